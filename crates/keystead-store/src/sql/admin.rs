//! Changes to principals and grants after their creation: role and expiry updates,
//! re-enabling, taking operations back from a grant. Each is a compare-and-set on what the
//! service read, so two admins racing never lose one another's change silently.

use keystead_core::envelope::unix_ms;
use keystead_core::{KeyId, Operation};
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

use crate::Error;

/// Replaces a grant's operations with `to` if they are still `from`; deletes the grant when
/// `to` is empty.
pub(super) async fn revoke_grant(
    tx: &mut Transaction<'_, Any>,
    principal: &str,
    key_id: KeyId,
    from: &[Operation],
    to: &[Operation],
) -> Result<(), Error> {
    let join = |ops: &[Operation]| ops.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(",");
    let updated = if to.is_empty() {
        sqlx::query("DELETE FROM grants WHERE principal = $1 AND key_id = $2 AND operations = $3")
            .bind(principal)
            .bind(key_id.to_string())
            .bind(join(from))
            .execute(&mut **tx)
            .await?
    } else {
        sqlx::query(
            "UPDATE grants SET operations = $1 WHERE principal = $2 AND key_id = $3 AND operations = $4",
        )
        .bind(join(to))
        .bind(principal)
        .bind(key_id.to_string())
        .bind(join(from))
        .execute(&mut **tx)
        .await?
    };
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the grant" });
    }
    Ok(())
}

/// Sets a principal's roles and expiry if its roles and expiry are still as read (`from`).
pub(super) async fn update_principal(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    (from_roles, from_expires_at): (&[String], Option<OffsetDateTime>),
    roles: &[String],
    expires_at: Option<OffsetDateTime>,
) -> Result<(), Error> {
    // -1 stands for "never expires" on both backends (IS NOT DISTINCT FROM is PostgreSQL's).
    let updated = sqlx::query(
        "UPDATE principals SET roles = $1, expires_at_ms = $2 WHERE name = $3 AND roles = $4 \
         AND COALESCE(expires_at_ms, -1) = $5",
    )
    .bind(roles.join(","))
    .bind(expires_at.map(unix_ms))
    .bind(name)
    .bind(from_roles.join(","))
    .bind(from_expires_at.map_or(-1, unix_ms))
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the principal (changed meanwhile)" });
    }
    Ok(())
}

/// Lets a disabled principal authenticate again.
pub(super) async fn enable_principal(tx: &mut Transaction<'_, Any>, name: &str) -> Result<(), Error> {
    let updated = sqlx::query("UPDATE principals SET disabled = 0 WHERE name = $1 AND disabled = 1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the principal (unknown or already enabled)" });
    }
    Ok(())
}
