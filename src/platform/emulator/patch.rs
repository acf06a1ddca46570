//! The person fields a create or an update may carry to an emulator, validated: the part
//! CAKE's and FileSpin's write bodies share (each kind adds its own fields beside it).

/// A person's fields as a write carries them; absent ones stay `None`.
#[derive(Debug, Default)]
pub struct PersonPatch {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role_id: Option<u64>,
}
