//! The desired-object marks: the label and annotation by which gitstellar knows, in a WEC, the
//! objects it applied (design §9.8). Inputs: an instance name, a WDS and an object identity.
//! Outputs: the mark names and the origin annotation's value; the mailbox renderer writes the
//! origin, the sync engine adds the label and reads both back.

use crate::model::ObjectId;

/// Label on every object gitstellar applies: which gitstellar instance manages it.
pub const MANAGED_BY: &str = "gitstellar.io/managed-by";
/// Annotation on every object gitstellar applies: `<wds>/<group>/<Kind>/<namespace>/<name>`. It names
/// the object's own identity, so an annotation copied by a controller to a child (a Deployment's
/// to its ReplicaSets) is not ownership (design §9.8, kubestellar#900).
pub const ORIGIN: &str = "gitstellar.io/origin";

/// The origin annotation's value for an object of a WDS.
pub fn origin_of(wds: &str, id: &ObjectId) -> String {
    format!("{wds}/{id}")
}

/// The identity an origin annotation names, and its WDS; `None` if malformed.
pub fn parse_origin(origin: &str) -> Option<(String, ObjectId)> {
    let (wds, id) = origin.split_once('/')?;
    if wds.is_empty() {
        return None;
    }
    Some((wds.to_string(), ObjectId::parse(id)?))
}
