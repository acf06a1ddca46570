//! Unit tests of the LDAP source over entries built in the test: AD's GUIDs, account flags,
//! ranged and nested memberships, and the completeness rules.
