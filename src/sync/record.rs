//! The record of what gitstellar applied to a WEC (KubeStellar's syncer keeps none: it is what
//! makes pruning possible without listing every kind), kept in the WEC itself as ConfigMaps in
//! `gitstellar-system`.
//!
//! Input: the WEC (a [`Cluster`]) and the instance name. Output: an [`Inventory`] read from the
//! WEC, and the ConfigMaps written back. A Kubernetes ConfigMap holds at most 1 MiB, so the record
//! is split into parts of at most [`PART_BYTES`] of lines each: part 0 is
//! `gitstellar-inventory-<instance>` (the name of the single ConfigMap earlier versions wrote, so
//! their record reads as a one-part record) and also says how many parts there are; part `i > 0`
//! is `gitstellar-inventory-<instance>-part-<i>`. An entry stays in the part it was put in; a new
//! entry goes to the first part with room. Parts are never removed, so a crash between two part
//! writes can leave an entry in no unexpected place: the part count is written before the part.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::cluster::{Cluster, ClusterError};
use super::desired::{Inventory, InventoryEntry, line};
use super::{INVENTORY_NAME, SYSTEM_NAMESPACE};
use crate::model::ObjectId;

/// The most bytes of record lines one part holds: half of what a ConfigMap may hold, so an
/// entry's digest growing from pending to final never takes a part near the limit.
pub const PART_BYTES: usize = 512 * 1024;

/// Label on the record's ConfigMaps: whose record it is.
pub const RECORD_OF: &str = "gitstellar.io/record-of";

/// The room reserved per line: a pending entry gets its final digest later.
const DIGEST_ROOM: usize = 17;

/// One ConfigMap of the record.
#[derive(Clone, Debug, Default)]
struct Part {
    /// What it should hold.
    entries: BTreeMap<ObjectId, InventoryEntry>,
    /// What the WEC holds (as last read or written).
    written: Option<BTreeMap<ObjectId, InventoryEntry>>,
    /// The bytes of `entries`' lines (with room for final digests).
    bytes: usize,
}

impl Part {
    fn of(entries: BTreeMap<ObjectId, InventoryEntry>, written: bool) -> Part {
        let mut part = Part {
            written: written.then(|| entries.clone()),
            entries,
            bytes: 0,
        };
        part.recount();
        part
    }

    fn recount(&mut self) {
        self.bytes = self.entries.iter().map(|(id, e)| line_bytes(id, e)).sum();
    }
}

fn line_bytes(id: &ObjectId, e: &InventoryEntry) -> usize {
    line(id, e).len() + 1 + DIGEST_ROOM.saturating_sub(e.digest.len() + 1)
}

/// A WEC's record, as read from it and changed since.
#[derive(Clone, Debug)]
pub struct Record {
    instance: String,
    parts: Vec<Part>,
    /// The part count the WEC's part 0 states.
    count_written: usize,
}

/// The ConfigMap name of part `index` of `instance`'s record.
pub fn part_name(instance: &str, index: usize) -> String {
    if index == 0 {
        format!("{INVENTORY_NAME}-{instance}")
    } else {
        format!("{INVENTORY_NAME}-{instance}-part-{index}")
    }
}

fn part_id(instance: &str, index: usize) -> ObjectId {
    ObjectId::new(
        "",
        "ConfigMap",
        Some(SYSTEM_NAMESPACE),
        &part_name(instance, index),
    )
}

fn data_of(cm: &Value) -> BTreeMap<String, String> {
    cm.get("data")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default()
}

impl Record {
    /// An empty record that nothing was written of yet.
    pub fn new(instance: &str) -> Record {
        Record {
            instance: instance.to_string(),
            parts: Vec::new(),
            count_written: 0,
        }
    }

    /// Reads the record from the WEC (a missing record is an empty one).
    pub async fn read<C: Cluster>(cluster: &C, instance: &str) -> Result<Record, ClusterError> {
        let mut record = Record::new(instance);
        let Some(head) = cluster.get("v1", &part_id(instance, 0)).await? else {
            return Ok(record);
        };
        let data = data_of(&head);
        let count = data
            .get("parts")
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        record.count_written = count;
        record
            .parts
            .push(Part::of(Inventory::from_data(&data).objects, true));
        for index in 1..count {
            let part = match cluster.get("v1", &part_id(instance, index)).await? {
                Some(cm) => Part::of(Inventory::from_data(&data_of(&cm)).objects, true),
                None => Part::default(),
            };
            record.parts.push(part);
        }
        Ok(record)
    }

    /// Every entry of every part (an entry found in two parts, after a crash, counts once).
    pub fn inventory(&self) -> Inventory {
        let mut objects = BTreeMap::new();
        for part in &self.parts {
            for (id, e) in &part.entries {
                objects.entry(id.clone()).or_insert_with(|| e.clone());
            }
        }
        Inventory { objects }
    }

    /// Adds (or updates) entries, keeping every other one: what is written before applying.
    pub fn add(&mut self, entries: impl IntoIterator<Item = (ObjectId, InventoryEntry)>) {
        let mut incoming: BTreeMap<ObjectId, InventoryEntry> = entries.into_iter().collect();
        for part in &mut self.parts {
            let mut changed = false;
            for (id, e) in part.entries.iter_mut() {
                if let Some(new) = incoming.remove(id) {
                    *e = new;
                    changed = true;
                }
            }
            if changed {
                part.recount();
            }
        }
        for (id, e) in incoming {
            self.place(id, e);
        }
    }

    /// Makes the record hold exactly `inventory`. An entry stays in its part; a copy left in a
    /// second part by a crash is dropped.
    pub fn set(&mut self, inventory: &Inventory) {
        let mut placed: BTreeSet<ObjectId> = BTreeSet::new();
        for part in &mut self.parts {
            part.entries
                .retain(|id, e| match inventory.objects.get(id) {
                    Some(want) if placed.insert(id.clone()) => {
                        *e = want.clone();
                        true
                    }
                    _ => false,
                });
            part.recount();
        }
        for (id, e) in &inventory.objects {
            if !placed.contains(id) {
                self.place(id.clone(), e.clone());
            }
        }
    }

    /// Puts a new entry in the first part with room for it, or in a new part.
    fn place(&mut self, id: ObjectId, e: InventoryEntry) {
        let size = line_bytes(&id, &e);
        let index = match self.parts.iter().position(|p| p.bytes + size <= PART_BYTES) {
            Some(i) => i,
            None => {
                self.parts.push(Part::default());
                self.parts.len() - 1
            }
        };
        self.parts[index].bytes += size;
        self.parts[index].entries.insert(id, e);
    }

    /// The ConfigMap data of each part, as [`Record::write`] writes it.
    pub fn part_data(&self) -> Vec<BTreeMap<String, String>> {
        (0..self.parts.len()).map(|i| self.data(i)).collect()
    }

    fn data(&self, index: usize) -> BTreeMap<String, String> {
        let mut data = BTreeMap::new();
        data.insert(
            "objects".to_string(),
            super::desired::lines(self.parts[index].entries.iter()),
        );
        if index == 0 {
            data.insert("parts".to_string(), self.parts.len().to_string());
        }
        data
    }

    /// Whether the WEC holds something else than this record.
    pub fn is_dirty(&self) -> bool {
        self.count_written != self.parts.len()
            || self
                .parts
                .iter()
                .any(|p| p.written.as_ref() != Some(&p.entries))
    }

    /// Writes the parts that changed: part 0 first (it holds the part count), then the others.
    pub async fn write<C: Cluster>(&mut self, cluster: &C) -> Result<(), ClusterError> {
        for index in 0..self.parts.len() {
            let stale = self.parts[index].written.as_ref() != Some(&self.parts[index].entries)
                || (index == 0 && self.count_written != self.parts.len());
            if !stale {
                continue;
            }
            let configmap = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": part_name(&self.instance, index),
                    "namespace": SYSTEM_NAMESPACE,
                    "labels": {RECORD_OF: self.instance},
                },
                "data": self.data(index),
            });
            match cluster.apply(&configmap, true).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {
                    // The first record in this WEC: its namespace comes first.
                    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}});
                    cluster.apply(&namespace, true).await?;
                    cluster.apply(&configmap, true).await?;
                }
                Err(e) => return Err(e),
            }
            self.parts[index].written = Some(self.parts[index].entries.clone());
            if index == 0 {
                self.count_written = self.parts.len();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &str) -> InventoryEntry {
        InventoryEntry {
            wds: "workload-description-space".into(),
            version: "v1".into(),
            digest: digest.into(),
        }
    }

    #[test]
    fn a_hundred_thousand_objects_fit_in_parts_under_a_mebibyte() {
        let mut record = Record::new("gitstellar");
        let n = 100_000;
        record.add((0..n).map(|i| {
            (
                ObjectId::new(
                    "apps",
                    "Deployment",
                    Some(&format!("namespace-of-a-team-{:03}", i % 500)),
                    &format!("a-deployment-with-a-long-descriptive-name-{i:06}"),
                ),
                entry(super::super::desired::PENDING),
            )
        }));
        // Every entry confirmed: digests grow from pending to final.
        let mut confirmed = record.inventory();
        for e in confirmed.objects.values_mut() {
            e.digest = "0123456789abcdef".into();
        }
        record.set(&confirmed);
        let data = record.part_data();
        assert!(data.len() > 1, "split: {} parts", data.len());
        for (i, d) in data.iter().enumerate() {
            let bytes: usize = d.iter().map(|(k, v)| k.len() + v.len()).sum();
            assert!(bytes < 1024 * 1024, "part {i}: {bytes} bytes");
        }
        let read: usize = data
            .iter()
            .map(|d| Inventory::from_data(d).objects.len())
            .sum();
        assert_eq!(read, n);
        assert_eq!(record.inventory(), confirmed);
    }

    #[test]
    fn an_entry_stays_in_its_part_and_removal_empties_it() {
        let mut record = Record::new("i");
        let a = ObjectId::new("", "ConfigMap", Some("n"), "a");
        let b = ObjectId::new("", "ConfigMap", Some("n"), "b");
        record.add([(a.clone(), entry("-")), (b.clone(), entry("-"))]);
        let mut only_b = Inventory::default();
        only_b.objects.insert(b.clone(), entry("0123456789abcdef"));
        record.set(&only_b);
        assert_eq!(record.inventory(), only_b);
        assert!(record.is_dirty());
    }

    #[test]
    fn a_copy_in_a_second_part_is_dropped_and_a_confirmed_entry_updated_in_place() {
        let a = ObjectId::new("", "ConfigMap", Some("n"), "a");
        let both = BTreeMap::from([(a.clone(), entry("-"))]);
        let mut record = Record {
            instance: "i".into(),
            parts: vec![Part::of(both.clone(), true), Part::of(both, true)],
            count_written: 2,
        };
        record.add([(a.clone(), entry("0123456789abcdef"))]);
        assert_eq!(record.inventory().objects[&a].digest, "0123456789abcdef");
        let wanted = record.inventory();
        record.set(&wanted);
        let data = record.part_data();
        assert_eq!(Inventory::from_data(&data[0]).objects.len(), 1);
        assert!(Inventory::from_data(&data[1]).objects.is_empty());
        assert_eq!(data[0]["parts"], "2", "parts are never removed");
    }
}
