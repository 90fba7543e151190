//! Holding (design §9.16): a problem in the input never deletes a workload. What a broken file,
//! a withheld object, an invalid EdgePlacement or a broken inventory file produced in the last
//! good pass stays in the mailboxes exactly as it was, until git fixes or removes it.
//!
//! Inputs: one revision's [`Snapshot`], its [`Resolution`] and problems (which say *what* to
//! hold: [`Requests`]), the [`LastGood`] state (what those inputs produced before, worked out from
//! git by the root crate's `reconcile`) and the previous mailboxes ([`PreviousMailboxes`]). Output: the
//! plan with the held entries put back, marked ([`HeldMark`]), and a [`Holds`] report of what each
//! problem holds (for `problems.yaml`, the SinglePlacementSlices and the pass summary). Pure: the
//! previous mailboxes are read through a trait.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Destination, PlacedObject, Plan};
use crate::model::{EDGE_GROUP, EdgePlacement, ObjectId, Problem, Snapshot, load::CONFIG_FILE};
use crate::placement::Resolution;

/// Annotation of a held EdgePlacement's SinglePlacementSlice: why it is held.
pub const HELD_ANNOTATION: &str = "gitstellar.io/held";

/// Annotation of a held EdgePlacement's SinglePlacementSlice: the source revision whose
/// resolution of it is held (its last good revision).
pub const HELD_FROM_ANNOTATION: &str = "gitstellar.io/held-from";

/// How a placed object is marked when it is held (empty when it is not): one pointer, since
/// every placed object of a fleet carries one. Serialized (flattened into the object's entry) as
/// `"held": true` and `"heldReason"` when held, as nothing otherwise.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeldMark(Option<Arc<Held>>);

/// Why an entry is held, and its last good mailbox file when it is copied from there.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    /// The problem that holds it.
    pub reason: Arc<str>,
    /// The mailbox file exactly as the last good pass wrote it (`None`: rendered from git as
    /// usual, for an object placed by a held EdgePlacement).
    pub file: Option<Arc<[u8]>>,
}

impl HeldMark {
    /// A held entry.
    pub fn new(reason: Arc<str>, file: Option<Arc<[u8]>>) -> HeldMark {
        HeldMark(Some(Arc::new(Held { reason, file })))
    }

    /// Whether the entry is held.
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }

    /// The problem that holds it.
    pub fn reason(&self) -> Option<&str> {
        self.0.as_ref().map(|h| &*h.reason)
    }

    /// The last good mailbox file, when the entry is copied from there.
    pub fn file(&self) -> Option<&Arc<[u8]>> {
        self.0.as_ref().and_then(|h| h.file.as_ref())
    }
}

impl Serialize for HeldMark {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        if let Some(held) = &self.0 {
            map.serialize_entry("held", &true)?;
            map.serialize_entry("heldReason", &*held.reason)?;
        }
        map.end()
    }
}

/// How an EdgePlacement's summary is marked when its resolution is held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldPlacementMark {
    /// The problem that holds it.
    pub reason: String,
    /// The source revision whose resolution is used.
    pub revision: String,
}

/// What the problems of one revision ask to hold, by scope; each with the problem that asks.
#[derive(Clone, Debug, Default)]
pub struct Requests {
    /// The layout cannot be known (`gitstellar.yaml`, space directories): no mailbox moves.
    pub layout: Option<Problem>,
    /// Files of a WDS that could not be read or parsed (or hold an unidentifiable document): every
    /// object they produced is held. Keyed by (WDS, file).
    pub files: BTreeMap<(String, String), Problem>,
    /// Objects withheld by a problem. Keyed by (WDS, identity).
    pub objects: BTreeMap<(String, ObjectId), Problem>,
    /// EdgePlacements with an invalid selector or test, or that failed to load. Keyed by (WDS, name).
    pub placements: BTreeMap<(String, String), Problem>,
    /// Inventory files with a problem: the WECs they define keep their mailboxes. Keyed by
    /// (inventory space, file).
    pub inventory_files: BTreeMap<(String, String), Problem>,
}

impl Requests {
    /// Whether nothing asks to be held.
    pub fn is_empty(&self) -> bool {
        self.layout.is_none()
            && self.files.is_empty()
            && self.objects.is_empty()
            && self.placements.is_empty()
            && self.inventory_files.is_empty()
    }

    /// Whether answering needs the last good revision (more than the previous mailboxes).
    pub fn need_last_good(&self) -> bool {
        !self.files.is_empty() || !self.placements.is_empty() || !self.inventory_files.is_empty()
    }

    /// What the snapshot's and the resolution's problems ask to hold.
    pub fn of(snapshot: &Snapshot, resolution: &Resolution) -> Requests {
        let mut out = Requests::default();
        let inventories: BTreeSet<&str> = snapshot
            .inventories
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        for p in &snapshot.problems {
            if p.file == CONFIG_FILE || (p.file.is_empty() && p.object.is_empty()) {
                out.layout.get_or_insert_with(|| p.clone());
                continue;
            }
            if p.file.is_empty() {
                continue;
            }
            if inventories.contains(p.space.as_str()) {
                out.inventory_files
                    .entry((p.space.clone(), p.file.clone()))
                    .or_insert_with(|| p.clone());
                continue;
            }
            match identity(&p.object) {
                Some(id) if id.group == EDGE_GROUP => {
                    let absent = snapshot
                        .workloads
                        .iter()
                        .find(|w| w.name == p.space)
                        .is_some_and(|w| w.edge_placements.iter().all(|e| e.meta.name != id.name));
                    if id.kind == "EdgePlacement" && absent {
                        out.placements
                            .entry((p.space.clone(), id.name))
                            .or_insert_with(|| p.clone());
                    }
                }
                Some(id) => {
                    out.objects
                        .entry((p.space.clone(), id))
                        .or_insert_with(|| p.clone());
                }
                None => {
                    out.files
                        .entry((p.space.clone(), p.file.clone()))
                        .or_insert_with(|| p.clone());
                }
            }
        }
        for (&(inv, _), p) in &resolution.invalid_locations {
            if let Some(space) = snapshot.inventories.get(inv) {
                out.inventory_files
                    .entry((space.name.clone(), p.file.clone()))
                    .or_insert_with(|| p.clone());
            }
        }
        for (&r, p) in &resolution.invalid_placements {
            let Some(rp) = resolution.placements.get(r) else {
                continue;
            };
            let Some(wds) = snapshot.workloads.get(rp.wds) else {
                continue;
            };
            if let Some(ep) = wds.edge_placements.get(rp.index) {
                out.placements
                    .entry((wds.name.clone(), ep.meta.name.clone()))
                    .or_insert_with(|| p.clone());
            }
        }
        out
    }

    /// Adds what the plan's own problems (placing and customizing single objects) ask to hold.
    pub fn add_object_problems<'a>(&mut self, problems: impl IntoIterator<Item = &'a Problem>) {
        for p in problems {
            if let Some(id) = identity(&p.object)
                && id.group != EDGE_GROUP
            {
                self.objects
                    .entry((p.space.clone(), id))
                    .or_insert_with(|| p.clone());
            }
        }
    }
}

/// The identity a problem names, unless it is partly unknown (`?`) or absent.
fn identity(object: &str) -> Option<ObjectId> {
    let id = ObjectId::parse(object)?;
    let unknown = [
        id.group.as_str(),
        &id.kind,
        id.namespace_or_empty(),
        &id.name,
    ]
    .contains(&"?");
    (!unknown).then_some(id)
}

/// (WDS, file) → the identities the file defines.
pub type FileObjects = BTreeMap<(String, String), BTreeSet<ObjectId>>;

/// (inventory space, file) → the WECs the file defines.
pub type FileWecs = BTreeMap<(String, String), BTreeSet<String>>;

/// An EdgePlacement as its last good revision resolved it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeldPlacement {
    /// That revision.
    pub revision: String,
    /// Its destinations (SyncTarget names).
    pub destinations: BTreeSet<String>,
    /// The identities it selected.
    pub objects: BTreeSet<ObjectId>,
    /// The EdgePlacement itself, for one that is absent now (it failed to load).
    pub edge_placement: Option<EdgePlacement>,
}

/// What the inputs asking to be held produced in the last good state, worked out from git.
#[derive(Clone, Debug, Default)]
pub struct LastGood {
    /// The source revision the previous mailboxes were computed from (`None`: no previous pass).
    pub revision: Option<String>,
    /// (WDS, file) → the identities that file defined then.
    pub file_objects: FileObjects,
    /// (inventory space, file) → the WECs that file defined then (SyncTarget or paired Location).
    pub inventory_wecs: FileWecs,
    /// (WDS, EdgePlacement) → its last good resolution.
    pub placements: BTreeMap<(String, String), HeldPlacement>,
    /// Problems that held something in the last pass, with the revision they held: a problem
    /// that goes on holding keeps naming the revision it began to hold.
    pub recorded: BTreeMap<Problem, String>,
}

/// One file of a previous mailbox.
#[derive(Clone, Debug)]
pub struct PreviousEntry {
    /// The WDS its origin annotation names.
    pub wds: String,
    /// Its identity.
    pub id: ObjectId,
    /// Its resource, as its mailbox's SyncerConfig lists it.
    pub resource: String,
    /// The object (the origin annotation removed).
    pub object: Arc<Value>,
    /// The file's bytes.
    pub file: Arc<[u8]>,
}

/// The mailboxes the last pass wrote.
pub trait PreviousMailboxes {
    /// Every WEC that has a mailbox.
    fn wecs(&self) -> Vec<String>;
    /// The entry for `id` in `wec`'s mailbox, if it has one.
    fn entry(&self, wec: &str, id: &ObjectId) -> Option<PreviousEntry>;
    /// Every entry of `wec`'s mailbox, and its SyncerConfig's upsync rules.
    fn entries(&self, wec: &str) -> (Vec<PreviousEntry>, Vec<crate::model::UpsyncSet>);
}

/// What a revision holds, by the problem that holds it.
#[derive(Clone, Debug, Default)]
pub struct Holds {
    /// Every mailbox is kept as it is (the layout is unknowable).
    pub layout: bool,
    /// WECs whose mailboxes are kept as they are.
    pub frozen: BTreeSet<String>,
    /// Held EdgePlacements: (WDS, name) → mark.
    pub placements: BTreeMap<(String, String), HeldPlacementMark>,
    /// What each problem holds.
    pub by_problem: BTreeMap<Problem, Holding>,
    /// How many (object, WEC) entries are held.
    pub entries: usize,
    /// The last good revision.
    pub revision: Option<String>,
}

/// What one problem holds, as `problems.yaml` records it (under `holds`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holding {
    /// The source revision whose state is held.
    #[serde(default)]
    pub revision: String,
    /// Identities of the problem's space held at their last good state (for a broken file,
    /// every identity it defined then, whether or not some mailbox has it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<HeldObject>,
    /// Mailboxes kept unchanged as a whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mailboxes: Vec<String>,
    /// The EdgePlacement held as `revision` resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
}

/// One identity held, and the WECs whose mailbox keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HeldObject {
    /// `group/Kind/namespace/name`.
    pub object: String,
    /// The WECs.
    #[serde(default)]
    pub wecs: Vec<String>,
}

/// Makes held EdgePlacements part of the snapshot again: one that failed to load is put back as
/// its last good revision had it. Returns whether the snapshot changed (then resolve again).
pub fn restore_placements(snapshot: &mut Snapshot, requests: &Requests, last: &LastGood) -> bool {
    let mut changed = false;
    for (key, held) in &last.placements {
        let (Some(ep), true) = (&held.edge_placement, requests.placements.contains_key(key)) else {
            continue;
        };
        if let Some(wds) = snapshot.workloads.iter_mut().find(|w| w.name == key.0)
            && wds.edge_placements.iter().all(|e| e.meta.name != key.1)
        {
            wds.edge_placements.push(ep.clone());
            wds.edge_placements
                .sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
            changed = true;
        }
    }
    changed
}

/// Replaces each held EdgePlacement's destinations and objects with its last good ones.
pub fn hold_placements(
    snapshot: &Snapshot,
    resolution: &mut Resolution,
    requests: &Requests,
    last: &LastGood,
    holds: &mut Holds,
) {
    let wec_index: BTreeMap<&str, usize> = resolution
        .wecs
        .iter()
        .enumerate()
        .map(|(i, w)| (w.name.as_str(), i))
        .collect();
    for rp in &mut resolution.placements {
        let wds = &snapshot.workloads[rp.wds];
        let ep = &wds.edge_placements[rp.index];
        let key = (wds.name.clone(), ep.meta.name.clone());
        let (Some(problem), Some(held)) =
            (requests.placements.get(&key), last.placements.get(&key))
        else {
            continue;
        };
        rp.destinations = held
            .destinations
            .iter()
            .filter_map(|n| wec_index.get(n.as_str()).copied())
            .collect();
        rp.objects = wds
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| held.objects.contains(&o.id))
            .map(|(i, _)| i)
            .collect();
        rp.implicit.clear();
        holds.placements.insert(
            key,
            HeldPlacementMark {
                reason: problem.message.clone(),
                revision: held.revision.clone(),
            },
        );
        holds
            .by_problem
            .entry(problem.clone())
            .or_default()
            .placement = Some(held.revision.clone());
    }
}

/// Puts every held entry back into the plan, marked, and says what is held.
pub fn hold_entries(
    plan: &mut Plan,
    requests: &Requests,
    last: &LastGood,
    previous: &dyn PreviousMailboxes,
    holds: &mut Holds,
) {
    holds.revision = last.revision.clone();
    if last.revision.is_none() {
        // The first pass has no last good state: what is broken is simply absent.
        holds.placements.clear();
        holds.by_problem.clear();
        return;
    }
    let previous_wecs: BTreeSet<String> = previous.wecs().into_iter().collect();
    // Whole mailboxes first.
    let mut frozen: BTreeMap<String, Problem> = BTreeMap::new();
    if let Some(p) = &requests.layout {
        holds.layout = true;
        for wec in &previous_wecs {
            frozen.insert(wec.clone(), p.clone());
        }
    } else {
        for (key, p) in &requests.inventory_files {
            for wec in last.inventory_wecs.get(key).into_iter().flatten() {
                if previous_wecs.contains(wec) {
                    frozen.entry(wec.clone()).or_insert_with(|| p.clone());
                }
            }
        }
    }
    for (wec, p) in &frozen {
        let (entries, upsync) = previous.entries(wec);
        let reason: Arc<str> = Arc::from(p.message.as_str());
        let objects: Vec<PlacedObject> = entries
            .into_iter()
            .map(|e| held_object(e, &reason))
            .collect();
        holds.entries += objects.len();
        plan.destinations
            .insert(wec.clone(), destination(objects, upsync));
        let holding = holds.by_problem.entry(p.clone()).or_default();
        holding.mailboxes.push(wec.clone());
        holds.frozen.insert(wec.clone());
    }
    // Then single identities, in the WECs that stay.
    let mut wanted: BTreeMap<(String, ObjectId), &Problem> = BTreeMap::new();
    for ((wds, id), p) in &requests.objects {
        wanted.insert((wds.clone(), id.clone()), p);
    }
    for (key, p) in &requests.files {
        let ids = last.file_objects.get(key).into_iter().flatten();
        let holding = holds.by_problem.entry(p.clone()).or_default();
        for id in ids {
            wanted.entry((key.0.clone(), id.clone())).or_insert(p);
            holding.objects.push(HeldObject {
                object: id.to_string(),
                wecs: Vec::new(),
            });
        }
    }
    // A held EdgePlacement holds its last good objects wherever a mailbox has them: a WEC its
    // last good revision did not reach (its inventory file was broken then) keeps them too.
    for (key, held) in &last.placements {
        if let (true, Some(p)) = (
            holds.placements.contains_key(key),
            requests.placements.get(key),
        ) {
            for id in &held.objects {
                wanted.entry((key.0.clone(), id.clone())).or_insert(p);
            }
        }
    }
    // A withheld Namespace also holds what lives in it: without it, namespaceSelectors that
    // matched its labels match nothing.
    let namespaces: BTreeMap<(String, String), &Problem> = wanted
        .iter()
        .filter(|((_, id), _)| id.group.is_empty() && id.kind == "Namespace")
        .map(|((wds, id), p)| ((wds.clone(), id.name.clone()), *p))
        .collect();
    for (wec, dest) in plan.destinations.iter_mut() {
        if holds.frozen.contains(wec) || !previous_wecs.contains(wec) {
            continue;
        }
        let present: BTreeSet<ObjectId> = dest.objects.iter().map(|o| (*o.id).clone()).collect();
        let mut candidates: Vec<(PreviousEntry, &Problem)> = Vec::new();
        for ((wds, id), p) in &wanted {
            if present.contains(id) {
                continue;
            }
            if let Some(entry) = previous.entry(wec, id)
                && entry.wds == *wds
            {
                candidates.push((entry, p));
            }
        }
        if !namespaces.is_empty() {
            for entry in previous.entries(wec).0 {
                let key = (
                    entry.wds.clone(),
                    entry.id.namespace.clone().unwrap_or_default(),
                );
                if let Some(p) = namespaces.get(&key)
                    && !present.contains(&entry.id)
                    && !wanted.contains_key(&(entry.wds.clone(), entry.id.clone()))
                {
                    candidates.push((entry, p));
                }
            }
        }
        // A held custom resource keeps the CRD that came with it (design §9.4).
        let mut crds: Vec<(PreviousEntry, &Problem)> = Vec::new();
        for (entry, p) in &candidates {
            if entry.id.group.is_empty() {
                continue;
            }
            let crd = ObjectId::new(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                None,
                &format!("{}.{}", entry.resource, entry.id.group),
            );
            let taken =
                present.contains(&crd) || candidates.iter().chain(&crds).any(|(e, _)| e.id == crd);
            if !taken
                && let Some(found) = previous.entry(wec, &crd)
                && found.wds == entry.wds
            {
                crds.push((found, *p));
            }
        }
        candidates.extend(crds);
        let mut added = Vec::new();
        for (entry, p) in candidates {
            let holding = holds.by_problem.entry(p.clone()).or_default();
            let object = entry.id.to_string();
            match holding.objects.iter_mut().find(|o| o.object == object) {
                Some(o) => o.wecs.push(wec.clone()),
                None => holding.objects.push(HeldObject {
                    object,
                    wecs: vec![wec.clone()],
                }),
            }
            added.push(held_object(entry, &Arc::from(p.message.as_str())));
        }
        if added.is_empty() {
            continue;
        }
        holds.entries += added.len();
        let mut objects = std::mem::take(&mut dest.objects);
        objects.extend(added);
        objects.sort_by(|a, b| a.id.cmp(&b.id));
        *dest = Destination {
            namespaces: super::bare_namespaces(&objects),
            objects,
            upsync: std::mem::take(&mut dest.upsync),
        };
    }
    // What only held EdgePlacements place is held too (its objects still come from git).
    if !holds.placements.is_empty() {
        for dest in plan.destinations.values_mut() {
            for o in &mut dest.objects {
                let marks: Vec<&HeldPlacementMark> = o
                    .placements
                    .iter()
                    .filter_map(|ep| holds.placements.get(&(o.wds.to_string(), ep.clone())))
                    .collect();
                if !o.held.is_held() && !marks.is_empty() && marks.len() == o.placements.len() {
                    o.held = HeldMark::new(Arc::from(marks[0].reason.as_str()), None);
                    holds.entries += 1;
                }
            }
        }
    }
    for (problem, holding) in holds.by_problem.iter_mut() {
        holding.revision = last.revision.clone().unwrap_or_default();
        if let Some(since) = last.recorded.get(problem) {
            holding.revision = since.clone();
        }
        holding.objects.sort();
        holding.objects.dedup();
        holding.mailboxes.sort();
        holding.mailboxes.dedup();
    }
    holds
        .by_problem
        .retain(|_, h| !h.objects.is_empty() || !h.mailboxes.is_empty() || h.placement.is_some());
    for p in &mut plan.placements {
        if let Some(mark) = holds.placements.get(&(p.wds.clone(), p.name.clone())) {
            p.held = Some(mark.clone());
        }
    }
}

fn held_object(entry: PreviousEntry, reason: &Arc<str>) -> PlacedObject {
    PlacedObject {
        wds: Arc::from(entry.wds.as_str()),
        also_from: Vec::new(),
        placements: Arc::from(Vec::<String>::new()),
        create_only: entry
            .object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(crate::model::DOWNSYNC_OVERWRITE))
            .and_then(Value::as_str)
            == Some("false"),
        want_singleton_reported_state: false,
        id: Arc::new(entry.id),
        resource: Arc::from(entry.resource.as_str()),
        object: entry.object,
        held: HeldMark::new(reason.clone(), Some(entry.file)),
    }
}

/// A WEC's destination from its objects (and upsync rules).
fn destination(
    mut objects: Vec<PlacedObject>,
    upsync: Vec<crate::model::UpsyncSet>,
) -> Destination {
    objects.sort_by(|a, b| a.id.cmp(&b.id));
    Destination {
        namespaces: super::bare_namespaces(&objects),
        objects,
        upsync,
    }
}

/// What a revision's snapshot (and resolution) defined, by file: the identities of each WDS file
/// and the WECs of each inventory file. What [`LastGood`] is made of.
pub fn definitions(snapshot: &Snapshot, resolution: &Resolution) -> (FileObjects, FileWecs) {
    let mut files = FileObjects::new();
    for wds in &snapshot.workloads {
        for o in &wds.objects {
            files
                .entry((wds.name.clone(), o.file.clone()))
                .or_default()
                .insert(o.id.clone());
        }
    }
    let mut inventory = FileWecs::new();
    for wec in &resolution.wecs {
        let Some(inv) = snapshot.inventories.get(wec.inventory) else {
            continue;
        };
        if let Some(st) = inv.sync_targets.get(wec.sync_target) {
            inventory
                .entry((inv.name.clone(), st.file.clone()))
                .or_default()
                .insert(wec.name.clone());
        }
        if let Some(loc) = wec.location.and_then(|l| inv.locations.get(l)) {
            inventory
                .entry((inv.name.clone(), loc.file.clone()))
                .or_default()
                .insert(wec.name.clone());
        }
    }
    (files, inventory)
}

/// An EdgePlacement as a revision resolved it.
pub fn resolved_placement(
    snapshot: &Snapshot,
    resolution: &Resolution,
    wds: &str,
    name: &str,
    revision: &str,
) -> Option<HeldPlacement> {
    let (r, rp) = resolution.placements.iter().enumerate().find(|(_, rp)| {
        let w = &snapshot.workloads[rp.wds];
        w.name == wds && w.edge_placements[rp.index].meta.name == name
    })?;
    if resolution.invalid_placements.contains_key(&r) {
        // Invalid there too: that revision is not a good state of it.
        return None;
    }
    let w = &snapshot.workloads[rp.wds];
    Some(HeldPlacement {
        revision: revision.to_string(),
        destinations: rp
            .destinations
            .iter()
            .filter_map(|&d| resolution.wecs.get(d))
            .map(|w| w.name.clone())
            .collect(),
        objects: rp
            .objects
            .iter()
            .map(|&o| w.objects[o].id.clone())
            .collect(),
        edge_placement: Some(w.edge_placements[rp.index].clone()),
    })
}

/// One line per problem that holds something: the problem, and what it holds.
pub fn describe(holds: &Holds) -> Vec<String> {
    holds
        .by_problem
        .iter()
        .map(|(problem, h)| {
            let mut what = Vec::new();
            if !h.mailboxes.is_empty() {
                let names: Vec<&str> = h.mailboxes.iter().map(String::as_str).collect();
                what.push(format!(
                    "the mailboxes of {} unchanged",
                    super::name_list(&names)
                ));
            }
            let entries: usize = h.objects.iter().map(|o| o.wecs.len()).sum();
            if entries > 0 {
                let ids: Vec<String> = h
                    .objects
                    .iter()
                    .filter(|o| !o.wecs.is_empty())
                    .map(|o| {
                        let wecs: Vec<&str> = o.wecs.iter().map(String::as_str).collect();
                        format!("{} on {}", o.object, super::name_list(&wecs))
                    })
                    .collect();
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                what.push(format!(
                    "{entries} {} ({})",
                    if entries == 1 { "entry" } else { "entries" },
                    super::name_list(&ids)
                ));
            }
            if let Some(revision) = &h.placement {
                what.push(format!(
                    "its EdgePlacement as {} resolved it",
                    revision.get(..12).unwrap_or(revision)
                ));
            }
            if what.is_empty() {
                what.push("what it defined at the last good revision".into());
            }
            format!("{problem} — holds {}", what.join("; "))
        })
        .collect()
}
