//! The discovery endpoints (RFC 7644 §4): `ServiceProviderConfig`, `ResourceTypes` and
//! `Schemas`, saying what this service provider does and keeps.

use serde_json::{json, Value};

use super::error::ScimError;
use super::list::MAX_RESULTS;
use super::resource::Kind;
use super::schema::{schema_json, ENTERPRISE_URN, SCHEMAS};
use crate::platform::scim::wire::LIST_URN;

const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_URN],
        "documentationUri": "https://github.com/rosterd/rosterd#push-rosterd-as-a-scim-service-provider",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The token of source.push.token_file (or token_env), as Authorization: Bearer <token>",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

fn resource_type(kind: Kind, base: &str) -> Value {
    let mut rt = json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": format!("/{}", kind.endpoint()),
        "description": kind.name(),
        "schema": kind.urn(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", kind.name())},
    });
    if kind == Kind::User {
        rt["schemaExtensions"] = json!([{"schema": ENTERPRISE_URN, "required": false}]);
    }
    rt
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_URN],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `GET /ResourceTypes[/{id}]`.
pub fn resource_types(base: &str, id: Option<&str>) -> Result<Value, ScimError> {
    let all = [Kind::User, Kind::Group];
    match id {
        None => Ok(list(all.iter().map(|k| resource_type(*k, base)).collect())),
        Some(id) => all
            .iter()
            .find(|k| k.name().eq_ignore_ascii_case(id))
            .map(|k| resource_type(*k, base))
            .ok_or_else(|| ScimError::NotFound { kind: "ResourceType", id: id.to_string() }),
    }
}

/// `GET /Schemas[/{id}]`.
pub fn schemas(base: &str, id: Option<&str>) -> Result<Value, ScimError> {
    match id {
        None => Ok(list(SCHEMAS.iter().map(|s| schema_json(s, base)).collect())),
        Some(id) => SCHEMAS
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .map(|s| schema_json(s, base))
            .ok_or_else(|| ScimError::NotFound { kind: "Schema", id: id.to_string() }),
    }
}
