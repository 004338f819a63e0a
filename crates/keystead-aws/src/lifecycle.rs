//! Key lifecycle and attribute operations: ScheduleKeyDeletion and CancelKeyDeletion through
//! Keystead's destruction approval and waiting period, UpdateKeyDescription, the tag
//! operations (Keystead labels) and the rotation operations (Keystead's rotation period and
//! versions).

use keystead_core::KeyState;
use keystead_service::{DestroyRequest, KeyUpdate, KeyView};
use serde_json::{json, Value};

use crate::names::{key_arn, key_state};
use crate::{AwsError, Call};

async fn key(call: &Call<'_>) -> Result<(KeyView, String), AwsError> {
    let key = call.key_ref("KeyId")?;
    let view = call.service().describe_key(&call.caller, None, &key).await?;
    let id = view.attributes.id.to_string();
    Ok((view, id))
}

/// ScheduleKeyDeletion: the key's active and suspended versions are deactivated (a key
/// pending deletion protects nothing, as in AWS), then every version is put to Keystead's
/// destruction approval with `PendingWindowInDays` as the waiting period. Until the quorum
/// approves, the key shows `Disabled`; once approved, `PendingDeletion` with its date.
pub(crate) async fn schedule_key_deletion(call: &Call<'_>) -> Result<Value, AwsError> {
    let days = call.number("PendingWindowInDays")?.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(AwsError::validation("PendingWindowInDays must be 7 to 30"));
    }
    let minimum = call.service().config().minimum_destroy_wait_seconds;
    let seconds = i64::try_from(days * 86_400).unwrap_or(i64::MAX);
    if seconds < minimum {
        return Err(AwsError::validation(format!(
            "this server waits at least {} days before destroying a key: give PendingWindowInDays of at least that",
            (minimum + 86_399) / 86_400
        )));
    }
    let (view, id) = key(call).await?;
    if key_state(&view) == "PendingDeletion" {
        return Err(AwsError::new(
            "KMSInvalidStateException",
            format!("{} is pending deletion already", key_arn(call.config(), &id)),
        ));
    }
    let service = call.service();
    // Everything that would refuse the request is checked before a version is deactivated:
    // a refused request must leave the key as it was.
    if let Some(open) = service.pending_destruction(&call.caller, None, &id).await? {
        return Err(AwsError::new(
            "KMSInvalidStateException",
            format!("destruction request {open} for this key awaits approval; approve or reject it first"),
        ));
    }
    if !view.versions.iter().any(|v| v.state.has_material()) {
        return Err(AwsError::new(
            "KMSInvalidStateException",
            "every version of this key is destroyed already",
        ));
    }
    for version in view.versions.iter().filter(|v| matches!(v.state, KeyState::Active | KeyState::Suspended))
    {
        service.deactivate_key(&call.caller, None, &id, Some(version.number.get())).await?;
    }
    let request = DestroyRequest {
        version: None,
        after: Some(format!("{days}d")),
        justification: Some(format!("AWS ScheduleKeyDeletion, {days} days")),
        expires_in: None,
    };
    // The request's id is in `keystead approval list`; AWS clients drop fields they do not know.
    service.request_destruction(&call.caller, None, &id, request).await?;
    let after = service.describe_key(&call.caller, None, &id).await?;
    let deletion = after.versions.iter().filter_map(|v| v.destroy_at).min();
    let mut out = json!({
        "KeyId": key_arn(call.config(), &id),
        "KeyState": key_state(&after),
        "PendingWindowInDays": days,
    });
    if let (Some(at), Some(object)) = (deletion, out.as_object_mut()) {
        object.insert("DeletionDate".into(), json!(at.unix_timestamp()));
    }
    Ok(out)
}

/// CancelKeyDeletion: a scheduled destruction is cancelled (the key stays `Disabled`: its
/// versions were deactivated). A request still awaiting its quorum is decided by approvers.
pub(crate) async fn cancel_key_deletion(call: &Call<'_>) -> Result<Value, AwsError> {
    let (view, id) = key(call).await?;
    if key_state(&view) != "PendingDeletion" {
        return Err(AwsError::new(
            "KMSInvalidStateException",
            format!(
                "{} has no scheduled deletion; a deletion request still awaiting approval is rejected with `keystead approval reject`",
                key_arn(call.config(), &id)
            ),
        ));
    }
    call.service().cancel_destruction(&call.caller, None, &id, None).await?;
    Ok(json!({ "KeyId": key_arn(call.config(), &id) }))
}

pub(crate) async fn update_key_description(call: &Call<'_>) -> Result<Value, AwsError> {
    let description = call.required("Description")?.to_owned();
    let (_, id) = key(call).await?;
    let update = KeyUpdate { description: Some(description), ..KeyUpdate::default() };
    call.service().update_key(&call.caller, None, &id, update).await?;
    Ok(json!({}))
}

pub(crate) async fn tag_resource(call: &Call<'_>) -> Result<Value, AwsError> {
    let set_labels = call.tags()?;
    let (_, id) = key(call).await?;
    let update = KeyUpdate { set_labels, ..KeyUpdate::default() };
    call.service().update_key(&call.caller, None, &id, update).await.map_err(tag_error)?;
    Ok(json!({}))
}

/// AWS reports a bad tag as `TagException`.
fn tag_error(err: keystead_service::Error) -> AwsError {
    let aws = AwsError::from(err);
    if aws.kind == "ValidationException" {
        return AwsError::new("TagException", aws.message);
    }
    aws
}

pub(crate) async fn untag_resource(call: &Call<'_>) -> Result<Value, AwsError> {
    let keys = call
        .body
        .get("TagKeys")
        .and_then(Value::as_array)
        .ok_or_else(|| AwsError::validation("TagKeys is required"))?;
    let remove_labels: Vec<String> = keys.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    let (_, id) = key(call).await?;
    let update = KeyUpdate { remove_labels, ..KeyUpdate::default() };
    call.service().update_key(&call.caller, None, &id, update).await.map_err(tag_error)?;
    Ok(json!({}))
}

pub(crate) async fn list_resource_tags(call: &Call<'_>) -> Result<Value, AwsError> {
    let (view, _) = key(call).await?;
    let tags: Vec<Value> =
        view.attributes.labels.as_map().iter().map(|(k, v)| json!({ "TagKey": k, "TagValue": v })).collect();
    Ok(json!({ "Tags": tags, "Truncated": false }))
}

/// EnableKeyRotation sets Keystead's rotation period (`RotationPeriodInDays`, 90 to 2560,
/// 365 by default); the scheduler rotates when it passes.
pub(crate) async fn enable_key_rotation(call: &Call<'_>, enable: bool) -> Result<Value, AwsError> {
    let days = call.number("RotationPeriodInDays")?.unwrap_or(365);
    if enable && !(90..=2560).contains(&days) {
        return Err(AwsError::validation("RotationPeriodInDays must be 90 to 2560"));
    }
    let (_, id) = key(call).await?;
    let period = if enable { format!("{days}d") } else { "none".to_owned() };
    let update = KeyUpdate { rotation_period: Some(period), ..KeyUpdate::default() };
    call.service().update_key(&call.caller, None, &id, update).await?;
    Ok(json!({}))
}

pub(crate) async fn get_key_rotation_status(call: &Call<'_>) -> Result<Value, AwsError> {
    let (view, id) = key(call).await?;
    let mut out = json!({ "KeyId": key_arn(call.config(), &id), "KeyRotationEnabled": false });
    if let (Some(seconds), Some(object)) = (view.attributes.rotation_period_seconds, out.as_object_mut()) {
        object.insert("KeyRotationEnabled".into(), json!(true));
        object.insert("RotationPeriodInDays".into(), json!(seconds / 86_400));
        let newest = view.versions.iter().map(|v| v.created_at).max();
        if let Some(at) = newest {
            object.insert(
                "NextRotationDate".into(),
                json!((at + time::Duration::seconds(seconds)).unix_timestamp()),
            );
        }
    }
    Ok(out)
}

pub(crate) async fn rotate_key_on_demand(call: &Call<'_>) -> Result<Value, AwsError> {
    let (_, id) = key(call).await?;
    call.service().rotate_key(&call.caller, None, &id).await?;
    Ok(json!({ "KeyId": key_arn(call.config(), &id) }))
}

/// ListKeyRotations: every version after the first is a rotation.
pub(crate) async fn list_key_rotations(call: &Call<'_>) -> Result<Value, AwsError> {
    let (view, id) = key(call).await?;
    let arn = key_arn(call.config(), &id);
    let rotations: Vec<Value> = view
        .versions
        .iter()
        .filter(|v| v.number.get() > 1)
        .map(|v| json!({ "KeyId": arn, "RotationDate": v.created_at.unix_timestamp() }))
        .collect();
    Ok(json!({ "Rotations": rotations, "Truncated": false }))
}
