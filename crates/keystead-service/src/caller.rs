//! Who is calling, as established by authentication, and why (for uses of compromised keys).

use keystead_core::{Role, Tenant};

/// Why a principal uses a compromised key, and which systems the data concerns (CEK-19:
/// every such use is logged with reason, identity and affected systems).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Justification {
    /// The reason, 1 to 1024 printable characters.
    pub text: String,
    /// The systems whose data is processed, each 1 to 128 printable characters.
    pub affected_systems: Vec<String>,
}

impl Justification {
    /// Validates the reason and the affected systems (both required).
    pub fn new(text: &str, affected_systems: &[String]) -> Result<Self, crate::Error> {
        let printable =
            |s: &str, max: usize| !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control);
        if !printable(text, 1024) {
            return Err(crate::error::invalid("justification", "must be 1 to 1024 printable characters"));
        }
        let systems: Vec<String> =
            affected_systems.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        if systems.is_empty() || systems.len() > 32 || !systems.iter().all(|s| printable(s, 128)) {
            return Err(crate::error::invalid(
                "affected systems",
                "name 1 to 32 systems (comma separated), each 1 to 128 printable characters",
            ));
        }
        Ok(Self { text: text.trim().to_owned(), affected_systems: systems })
    }
}

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
    /// The justification sent with the request, if any.
    pub justification: Option<Justification>,
    /// The adapter's id of the request (REST `x-request-id`), recorded in its audit events.
    pub request_id: Option<String>,
    /// The protocol operation the request came as, when an adapter speaks another API
    /// (e.g. `TrentService.Encrypt` through the AWS endpoint), recorded in its audit events.
    pub api_operation: Option<String>,
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
            justification: None,
            request_id: None,
            api_operation: None,
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
            justification: None,
            request_id: None,
            api_operation: None,
        }
    }

    /// The same caller with a justification for this request.
    pub fn with_justification(mut self, justification: Option<Justification>) -> Self {
        self.justification = justification;
        self
    }

    /// The same caller for the request with this id (recorded in the request's audit events).
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// The same caller for a request that came as this protocol operation.
    pub fn with_api_operation(mut self, operation: impl Into<String>) -> Self {
        self.api_operation = Some(operation.into());
        self
    }

    /// Whether the caller holds the incident-responder role.
    pub fn is_incident_responder(&self) -> bool {
        self.roles.contains(&Role::IncidentResponder)
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

    /// What a listing covers: every tenant (`None`) for a principal of no tenant that names
    /// none, else the tenant [`resolve_tenant`](Self::resolve_tenant) gives.
    pub fn listing_scope(&self, requested: Option<&Tenant>) -> Result<Option<Tenant>, crate::Error> {
        match (requested, &self.tenant) {
            (None, None) => Ok(None),
            _ => self.resolve_tenant(requested).map(Some),
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
