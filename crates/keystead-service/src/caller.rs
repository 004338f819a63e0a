//! Who is calling, as established by authentication.

use keystead_core::{Role, Tenant};

/// An authenticated principal and where its request came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The principal's name.
    pub principal: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// The root principal: every permission, no grants needed. There is one per store, made
    /// by `operator init` (or `server --dev`); operators create admins and then disable it.
    pub root: bool,
    /// The tenant it is confined to, if any.
    pub tenant: Option<Tenant>,
    /// Where the request came from, e.g. `rest 127.0.0.1:50312`.
    pub source: String,
    /// How the caller proved who it is: `bearer` (a token), `mtls` (a client certificate), or
    /// `system` for the server itself.
    pub auth_method: &'static str,
}

impl Caller {
    /// A caller for work the server does on its own behalf (start-up, bootstrap).
    pub(crate) fn system(source: &str) -> Self {
        Self {
            principal: "keystead".into(),
            roles: Vec::new(),
            root: false,
            tenant: None,
            source: source.into(),
            auth_method: "system",
        }
    }

    /// A caller not (yet) authenticated: `operator init` and `unseal`, failed authentications.
    pub(crate) fn anonymous(source: &str, auth_method: &'static str) -> Self {
        Self {
            principal: "anonymous".into(),
            roles: Vec::new(),
            root: false,
            tenant: None,
            source: source.into(),
            auth_method,
        }
    }

    /// The tenant a request acts on: the one named, else the caller's own, else `default`.
    /// A caller confined to a tenant may not name another.
    pub fn resolve_tenant(&self, requested: Option<&Tenant>) -> Result<Tenant, crate::Error> {
        match (requested, &self.tenant) {
            (Some(asked), Some(own)) if asked != own => Err(crate::Error::PermissionDenied {
                reason: format!("principal {} is confined to tenant {own}", self.principal),
            }),
            (Some(asked), _) => Ok(asked.clone()),
            (None, Some(own)) => Ok(own.clone()),
            (None, None) => Ok(Tenant::default_tenant()),
        }
    }

    /// Checks that the caller may act on a key of `tenant`.
    pub fn check_tenant(&self, tenant: &Tenant) -> Result<(), crate::Error> {
        match &self.tenant {
            Some(own) if own != tenant => Err(crate::Error::PermissionDenied {
                reason: format!("principal {} is confined to tenant {own}", self.principal),
            }),
            _ => Ok(()),
        }
    }
}
