//! Synthetic source repos for benchmarks and scale tests: a deterministic generator of a
//! KubeStellar layout (inventory, WDSes, EdgePlacements, Customizers) of any size.
//!
//! Input: a [`SynthConfig`]. Output: the [`SourceFile`]s of a repo layout, in memory
//! ([`generate`]), which [`gitstellar::model::load()`] reads like a real revision, and which can be
//! written out as files ([`write_to_dir`]) or as one git commit ([`commit_to_repo`]).
//!
//! What is generated (every choice drawn from a seeded splitmix64, so one config gives the same
//! bytes on every machine):
//! - `inventory/<wec>.yaml`: one SyncTarget and its Location per WEC, labelled `region` (10
//!   values), `zone` (5 per region, 50 in all), `tier` (3), `env` (2), sometimes `gpu`, and
//!   `id=<name>` (the pairing label); the Location carries annotations used as parameters
//!   (`site-code`, `contact`, `replicas`).
//! - `wds/team-<k>/<app>/`: each app a Namespace plus ConfigMaps, Deployments, Services,
//!   ServiceAccounts, Secrets and now and then a custom resource (whose CRD is in
//!   `wds/team-<k>/crds/`), every object labelled `app=<app>`, `component` and `layer`. A share of
//!   the objects opts into parameter expansion (`%(region)`, `%(zone)`, `%(gitstellar.io/wec)`,
//!   `%(site-code)`), another names a Customizer (expanding, with replacements and sometimes an
//!   RFC 6902 patch) kept in the app's `customizers.yaml`.
//! - `wds/team-<k>/placements/<ep>.yaml`: EdgePlacements with mixed `locationSelectors`
//!   (`matchLabels` on region/tier/env, `matchExpressions` with `In`, `NotIn`, `Exists`) and
//!   `downsync` tests mixing `apiGroup`, `resources`, `namespaces`, `objectNames`,
//!   `labelSelectors` and `namespaceSelectors`; some carry `upsync` rules. Each app has a *base*
//!   EdgePlacement reaching every WEC of the app's regions (so an app reaches a chosen share of the
//!   WECs, [`SynthConfig::reach_percent`]) and further, narrower EdgePlacements that overlap it.
//!
//! The generated repo has no problems: every parameter is defined at every destination and every
//! Customizer applies.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Oid, Repository, RepositoryInitOptions, Signature, Time};
use serde_json::{Map, Value, json};

use gitstellar::model::SourceFile;

/// The size and mix of a synthetic repo. [`Default`] is the plan benchmark's target size:
/// 1,000 WECs × 50 apps of 20 objects × 1,000 EdgePlacements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of WECs (SyncTarget + Location pairs).
    pub wecs: usize,
    /// Number of apps, spread round-robin over the WDSes.
    pub apps: usize,
    /// Objects per app, its Namespace included (at least 1).
    pub objects_per_app: usize,
    /// Number of EdgePlacements, spread round-robin over the apps (the first `apps` of them are
    /// the apps' base placements).
    pub placements: usize,
    /// Percentage of the non-Namespace objects annotated for parameter expansion.
    pub expanded_percent: u32,
    /// Percentage of the non-Namespace objects naming a Customizer.
    pub customized_percent: u32,
    /// Seed of the generator.
    pub seed: u64,
    /// Number of workload description spaces (`wds/team-<k>`), at least 1.
    pub wds_count: usize,
    /// Range (inclusive, in percent) of the share of WECs each app reaches: an app is placed in
    /// a number of regions proportional to a share drawn from this range.
    pub reach_percent: (u32, u32),
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            wecs: 1000,
            apps: 50,
            objects_per_app: 20,
            placements: 1000,
            expanded_percent: 20,
            customized_percent: 10,
            seed: 42,
            wds_count: 10,
            reach_percent: (10, 60),
        }
    }
}

impl SynthConfig {
    /// A small size for smoke tests: 50 WECs × 5 apps × 50 EdgePlacements in 2 WDSes.
    pub fn quick() -> Self {
        SynthConfig {
            wecs: 50,
            apps: 5,
            placements: 50,
            wds_count: 2,
            ..SynthConfig::default()
        }
    }

    /// The WDS directory name of an app: `team-<k>`.
    pub fn wds_of_app(&self, app: usize) -> String {
        format!("team-{}", app % self.wds_count.max(1))
    }
}

/// splitmix64: a tiny, good-enough PRNG (no dependency, same stream everywhere).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A stream from a seed (tests that make random changes to a generated repo use it too, so
    /// that a failing run replays from its seed).
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent stream for one item, so that changing one size does not reshuffle the rest.
    fn stream(seed: u64, domain: u64, index: u64) -> Rng {
        let mut rng = Rng(seed ^ domain.wrapping_mul(0xA076_1D64_78BD_642F));
        rng.0 ^= rng.next_u64() ^ index.wrapping_mul(0xE703_7ED1_A0B4_28DB);
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) % n as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u32) -> bool {
        (self.next_u64() % 100) < u64::from(percent)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `k` distinct indices of `0..n`, in random order.
    fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k.min(n));
        all
    }
}

const DOMAIN_WEC: u64 = 1;
const DOMAIN_APP: u64 = 2;
const DOMAIN_EP: u64 = 3;

const REGIONS: [&str; 10] = [
    "us-east",
    "us-west",
    "eu-west",
    "eu-central",
    "ap-south",
    "ap-northeast",
    "sa-east",
    "ca-central",
    "af-south",
    "me-central",
];
const ZONES_PER_REGION: usize = 5;
const TIERS: [&str; 3] = ["edge", "near-edge", "core"];
const COMPONENTS: [&str; 5] = ["web", "api", "worker", "cache", "db"];
const CRD_GROUP_SUFFIX: &str = "example.com";

fn zone_name(region: usize, zone: usize) -> String {
    format!("{}-{}", REGIONS[region], (b'a' + zone as u8) as char)
}

/// The generated repo: `gitstellar.yaml`, `inventory/`, `wds/team-<k>/`, as described in the
/// module documentation. Files are sorted by path.
pub fn generate(config: &SynthConfig) -> Vec<SourceFile> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    files.insert(
        "gitstellar.yaml".into(),
        "apiVersion: gitstellar.io/v1alpha1\nkind: RepoConfig\n\
         inventorySpaces: [\"inventory\"]\nworkloadSpaces: [\"wds/*\"]\n"
            .into(),
    );
    let width = digits(config.wecs);
    for i in 0..config.wecs {
        let name = format!("wec-{i:0width$}");
        files.insert(
            format!("inventory/{name}.yaml"),
            inventory_file(config, i, &name),
        );
    }

    let apps: Vec<App> = (0..config.apps).map(|a| App::new(config, a)).collect();
    let wds_count = config.wds_count.max(1);
    for k in 0..wds_count.min(config.apps.max(1)) {
        if apps.iter().any(|app| app.wds_index == k && app.crd) {
            files.insert(format!("wds/team-{k}/crds/widgets.yaml"), crd_file(k));
        }
    }
    for app in &apps {
        app.files(&mut files);
    }
    for j in 0..config.placements {
        if apps.is_empty() {
            break;
        }
        let app = &apps[j % apps.len()];
        let n = j / apps.len();
        let (path, text) = edge_placement_file(config, app, j, n);
        files.insert(path, text);
    }
    files
        .into_iter()
        .map(|(path, text)| SourceFile {
            path,
            content: Ok(text.into_bytes()),
        })
        .collect()
}

fn digits(n: usize) -> usize {
    n.saturating_sub(1).max(1).to_string().len().max(4)
}

/// Serializes documents as one multi-document YAML file.
fn yaml_docs(docs: &[Value]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let text = gitstellar_core::yaml::to_string(doc).expect("a JSON value serializes as YAML");
        out.push_str(&text);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn inventory_file(config: &SynthConfig, i: usize, name: &str) -> String {
    let mut rng = Rng::stream(config.seed, DOMAIN_WEC, i as u64);
    let region = rng.below(REGIONS.len());
    let zone = rng.below(ZONES_PER_REGION);
    let tier = TIERS[rng.below(TIERS.len())];
    let env = if rng.chance(70) { "prod" } else { "staging" };
    let mut labels = Map::new();
    labels.insert("region".into(), REGIONS[region].into());
    labels.insert("zone".into(), zone_name(region, zone).into());
    labels.insert("tier".into(), tier.into());
    labels.insert("env".into(), env.into());
    if rng.chance(15) {
        labels.insert("gpu".into(), "true".into());
    }
    let mut st_labels = labels.clone();
    st_labels.insert("id".into(), name.into());
    let sync_target = json!({
        "apiVersion": "edge.kubestellar.io/v2alpha1",
        "kind": "SyncTarget",
        "metadata": {"name": name, "labels": st_labels},
    });
    let location = json!({
        "apiVersion": "edge.kubestellar.io/v2alpha1",
        "kind": "Location",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "site-code": format!("{}-{:04}", zone_name(region, zone), i),
                "contact": format!("ops-{}@example.com", REGIONS[region]),
                "replicas": (1 + rng.below(5)).to_string(),
            },
        },
        "spec": {
            "resource": {"group": "edge.kubestellar.io", "version": "v2alpha1", "resource": "synctargets"},
            "instanceSelector": {"matchLabels": {"id": name}},
        },
    });
    yaml_docs(&[sync_target, location])
}

fn crd_file(k: usize) -> String {
    let group = format!("team-{k}.{CRD_GROUP_SUFFIX}");
    yaml_docs(&[json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "size": {"type": "integer"},
                        "color": {"type": "string"},
                    }},
                }}},
            }],
        },
    })])
}

/// The kinds an app is made of (besides its Namespace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ConfigMap,
    Deployment,
    Service,
    ServiceAccount,
    Secret,
    Widget,
}

impl Kind {
    fn short(self) -> &'static str {
        match self {
            Kind::ConfigMap => "cm",
            Kind::Deployment => "deploy",
            Kind::Service => "svc",
            Kind::ServiceAccount => "sa",
            Kind::Secret => "secret",
            Kind::Widget => "widget",
        }
    }
}

/// How one object is customized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Custom {
    None,
    /// Parameter expansion of the object itself, using this parameter.
    Expand(&'static str),
    /// Names this Customizer of the app.
    Customizer(CustomizerKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum CustomizerKind {
    /// Sets the first env var of the first container (Deployments).
    Env,
    /// Sets a label from a parameter (any kind).
    Labels,
    /// Like `Labels`, plus a JSON patch adding an annotation.
    LabelsPatch,
}

impl CustomizerKind {
    fn suffix(self) -> &'static str {
        match self {
            CustomizerKind::Env => "env",
            CustomizerKind::Labels => "labels",
            CustomizerKind::LabelsPatch => "labels-patch",
        }
    }
}

struct Item {
    kind: Kind,
    name: String,
    component: &'static str,
    base: bool,
    custom: Custom,
}

struct App {
    index: usize,
    name: String,
    wds: String,
    wds_index: usize,
    /// Indices into [`REGIONS`] where the app runs.
    regions: Vec<usize>,
    crd: bool,
    items: Vec<Item>,
    seed: u64,
}

const PARAMS: [&str; 4] = ["region", "zone", "gitstellar.io/wec", "site-code"];

impl App {
    fn new(config: &SynthConfig, a: usize) -> App {
        let mut rng = Rng::stream(config.seed, DOMAIN_APP, a as u64);
        let name = format!("app-{a:03}");
        let (lo, hi) = config.reach_percent;
        let (lo, hi) = (lo.min(100), hi.min(100).max(lo.min(100)));
        let pct = lo as usize + rng.below((hi - lo) as usize + 1);
        let k = ((pct * REGIONS.len() + 50) / 100).clamp(1, REGIONS.len());
        let mut regions = rng.sample(REGIONS.len(), k);
        regions.sort_unstable();
        let crd = a % 4 == 3;
        let mut items = Vec::new();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut widgets = 0;
        for i in 1..config.objects_per_app.max(1) {
            let kind = if i == 1 {
                Kind::ServiceAccount
            } else {
                match rng.below(100) {
                    _ if crd && widgets < 2 && rng.chance(15) => Kind::Widget,
                    0..30 => Kind::ConfigMap,
                    30..50 => Kind::Deployment,
                    50..68 => Kind::Service,
                    68..78 => Kind::ServiceAccount,
                    _ => Kind::Secret,
                }
            };
            if kind == Kind::Widget {
                widgets += 1;
            }
            let component = *rng.pick(&COMPONENTS);
            let n = counts.entry(kind.short()).or_default();
            *n += 1;
            let name = format!("{name}-{component}-{}-{n}", kind.short());
            let r = rng.below(100) as u32;
            let custom = if r < config.customized_percent {
                Custom::Customizer(match kind {
                    Kind::Deployment if rng.chance(60) => CustomizerKind::Env,
                    _ if rng.chance(35) => CustomizerKind::LabelsPatch,
                    _ => CustomizerKind::Labels,
                })
            } else if r < config.customized_percent + config.expanded_percent {
                Custom::Expand(match rng.below(100) {
                    0..40 => PARAMS[0],
                    40..70 => PARAMS[1],
                    70..90 => PARAMS[2],
                    _ => PARAMS[3],
                })
            } else {
                Custom::None
            };
            items.push(Item {
                kind,
                name,
                component,
                base: rng.chance(30),
                custom,
            });
        }
        App {
            index: a,
            wds: config.wds_of_app(a),
            wds_index: a % config.wds_count.max(1),
            name,
            regions,
            crd,
            items,
            seed: config.seed,
        }
    }

    fn dir(&self) -> String {
        format!("wds/{}/{}", self.wds, self.name)
    }

    fn crd_group(&self) -> String {
        format!("team-{}.{CRD_GROUP_SUFFIX}", self.wds_index)
    }

    fn files(&self, files: &mut BTreeMap<String, String>) {
        let dir = self.dir();
        let ns = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": self.name,
                "labels": {"app": self.name, "team": self.wds},
                "annotations": {"owner": format!("{}@example.com", self.wds)},
            },
        });
        files.insert(format!("{dir}/namespace.yaml"), yaml_docs(&[ns]));
        let mut config_docs = Vec::new();
        let mut customizers: Vec<CustomizerKind> = Vec::new();
        let mut rng = Rng::stream(self.seed, DOMAIN_APP, (self.index as u64) << 32 | 1);
        for item in &self.items {
            let doc = self.object(item, &mut rng);
            if let Custom::Customizer(c) = item.custom {
                customizers.push(c);
            }
            match item.kind {
                Kind::ConfigMap | Kind::Secret => config_docs.push(doc),
                _ => {
                    files.insert(format!("{dir}/{}.yaml", item.name), yaml_docs(&[doc]));
                }
            }
        }
        if !config_docs.is_empty() {
            files.insert(format!("{dir}/config.yaml"), yaml_docs(&config_docs));
        }
        customizers.sort_unstable();
        customizers.dedup();
        if !customizers.is_empty() {
            let docs: Vec<Value> = customizers.iter().map(|&c| self.customizer(c)).collect();
            files.insert(format!("{dir}/customizers.yaml"), yaml_docs(&docs));
        }
    }

    fn customizer(&self, c: CustomizerKind) -> Value {
        let mut doc = json!({
            "apiVersion": "edge.kubestellar.io/v2alpha1",
            "kind": "Customizer",
            "metadata": {
                "namespace": self.name,
                "name": format!("{}-{}", self.name, c.suffix()),
                "annotations": {"edge.kubestellar.io/expand-parameters": "true"},
            },
        });
        let replacements = match c {
            CustomizerKind::Env => json!([{
                "path": "$.spec.template.spec.containers.0.env.0.value",
                "value": "\"zone %(zone) in %(region)\"",
            }]),
            CustomizerKind::Labels | CustomizerKind::LabelsPatch => json!([
                {"path": "$.metadata.labels.region", "value": "\"%(region)\""},
                {"path": "$.metadata.labels.tier", "value": "\"%(tier)\""},
            ]),
        };
        doc["replacements"] = replacements;
        if c == CustomizerKind::LabelsPatch {
            doc["patches"] = json!([
                {"op": "add", "path": "/metadata/annotations/example.com~1site", "value": "%(site-code)"},
                {"op": "add", "path": "/metadata/annotations/example.com~1contact", "value": "%(contact)"},
            ]);
        }
        doc
    }

    /// One workload object as written in the WDS.
    fn object(&self, item: &Item, rng: &mut Rng) -> Value {
        let mut labels = Map::new();
        labels.insert("app".into(), self.name.clone().into());
        labels.insert("component".into(), item.component.into());
        labels.insert(
            "layer".into(),
            if item.base { "base" } else { "feature" }.into(),
        );
        let mut annotations = Map::new();
        annotations.insert("owner".into(), format!("{}@example.com", self.wds).into());
        // The text that parameter expansion rewrites (or a plain value when not expanded).
        let param_text = match item.custom {
            Custom::Expand(p) => {
                annotations.insert(
                    "edge.kubestellar.io/expand-parameters".into(),
                    "true".into(),
                );
                format!("%({p})")
            }
            Custom::Customizer(c) => {
                annotations.insert(
                    "edge.kubestellar.io/customizer".into(),
                    format!("{}-{}", self.name, c.suffix()).into(),
                );
                "static".into()
            }
            Custom::None => "static".into(),
        };
        let metadata = json!({
            "name": item.name,
            "namespace": self.name,
            "labels": labels,
            "annotations": annotations,
        });
        let selector = json!({"app": self.name, "component": item.component});
        match item.kind {
            Kind::ConfigMap => {
                let mut data = Map::new();
                data.insert(
                    "location".into(),
                    format!("served from {param_text}").into(),
                );
                data.insert(
                    "log-level".into(),
                    (*rng.pick(&["info", "debug", "warn"])).into(),
                );
                data.insert(
                    "app.properties".into(),
                    format!(
                        "app.name={}\napp.component={}\ncache.size={}\nfeature.flags=a,b,c\nendpoint=https://{}.{}.svc:8443/v1\n",
                        self.name,
                        item.component,
                        64 << rng.below(6),
                        item.name,
                        self.name
                    )
                    .into(),
                );
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
            }
            Kind::Secret => json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": metadata,
                "type": "Opaque",
                "stringData": {
                    "username": format!("{}-{}", self.name, item.component),
                    "endpoint": format!("db.{param_text}.example.com"),
                    "password": format!("{:016x}", rng.next_u64()),
                },
            }),
            Kind::ServiceAccount => json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": metadata,
                "automountServiceAccountToken": false,
            }),
            Kind::Service => {
                let mut doc = json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": metadata,
                    "spec": {
                        "selector": selector,
                        "ports": [
                            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                            {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
                        ],
                        "type": "ClusterIP",
                    },
                });
                doc["metadata"]["annotations"]["external-dns.alpha.kubernetes.io/hostname"] =
                    format!("{}.{param_text}.example.com", item.name).into();
                doc
            }
            Kind::Deployment => json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": metadata,
                "spec": {
                    "replicas": 1 + rng.below(4),
                    "selector": {"matchLabels": selector},
                    "template": {
                        "metadata": {"labels": selector},
                        "spec": {
                            "serviceAccountName": format!("{}-web-sa-1", self.name),
                            "containers": [{
                                "name": item.component,
                                "image": format!("registry.example.com/{}/{}:1.{}.{}", self.name, item.component, rng.below(20), rng.below(10)),
                                "env": [
                                    {"name": "LOCATION", "value": format!("running at {param_text}")},
                                    {"name": "LOG_LEVEL", "value": "info"},
                                ],
                                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                                "resources": {
                                    "requests": {"cpu": "100m", "memory": "128Mi"},
                                    "limits": {"cpu": "500m", "memory": "512Mi"},
                                },
                                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                            }],
                        },
                    },
                },
            }),
            Kind::Widget => json!({
                "apiVersion": format!("{}/v1", self.crd_group()),
                "kind": "Widget",
                "metadata": metadata,
                "spec": {"size": 1 + rng.below(9), "color": format!("blue-{param_text}")},
            }),
        }
    }

    /// Names of the app's objects of a kind.
    fn names_of(&self, kind: Kind) -> Vec<&str> {
        self.items
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.name.as_str())
            .collect()
    }
}

/// One EdgePlacement of `app`: `n == 0` is the app's base placement.
fn edge_placement_file(config: &SynthConfig, app: &App, j: usize, n: usize) -> (String, String) {
    let mut rng = Rng::stream(config.seed, DOMAIN_EP, j as u64);
    let name = format!("{}-ep-{n:02}", app.name);
    let regions: Vec<&str> = app.regions.iter().map(|&r| REGIONS[r]).collect();
    let in_regions = json!({"key": "region", "operator": "In", "values": regions});
    let ns = app.name.as_str();
    let (location_selectors, downsync) = if n == 0 {
        (
            json!([{"matchExpressions": [in_regions]}]),
            json!([
                {"apiGroup": "", "resources": ["namespaces"], "objectNames": [ns]},
                {"apiGroup": "", "resources": ["serviceaccounts", "services"],
                 "namespaceSelectors": [{"matchLabels": {"app": ns}}]},
                {"resources": ["*"], "namespaces": [ns],
                 "labelSelectors": [{"matchLabels": {"layer": "base"}}]},
            ]),
        )
    } else {
        let region = REGIONS[*rng.pick(&app.regions)];
        let tier = *rng.pick(&TIERS);
        let selectors = match rng.below(7) {
            0 => json!([{"matchLabels": {"region": region}}]),
            1 => json!([{"matchLabels": {"region": region, "tier": tier}}]),
            2 => json!([{"matchLabels": {"env": "prod"}, "matchExpressions": [in_regions]}]),
            3 => {
                let r = app.regions[rng.below(app.regions.len())];
                let zones: Vec<String> = rng
                    .sample(ZONES_PER_REGION, 2)
                    .into_iter()
                    .map(|z| zone_name(r, z))
                    .collect();
                json!([{"matchExpressions": [
                    in_regions,
                    {"key": "zone", "operator": "NotIn", "values": zones},
                    {"key": "tier", "operator": "In", "values": ["edge", "near-edge"]},
                ]}])
            }
            4 => json!([{"matchExpressions": [in_regions, {"key": "gpu", "operator": "Exists"}]}]),
            5 => {
                let other = REGIONS[*rng.pick(&app.regions)];
                json!([
                    {"matchLabels": {"region": region, "env": "staging"}},
                    {"matchLabels": {"region": other, "tier": tier}},
                ])
            }
            _ => json!([{"matchExpressions": [
                in_regions,
                {"key": "env", "operator": "NotIn", "values": ["staging"]},
            ]}]),
        };
        let mut tests = Vec::new();
        for _ in 0..1 + rng.below(3) {
            tests.push(downsync_test(app, &mut rng));
        }
        (selectors, Value::Array(tests))
    };
    let mut spec = Map::new();
    spec.insert("locationSelectors".into(), location_selectors);
    spec.insert("downsync".into(), downsync);
    if rng.chance(10) {
        spec.insert("wantSingletonReportedState".into(), true.into());
    }
    if rng.chance(25) {
        let rules = if rng.chance(50) {
            json!([{"apiGroup": "", "resources": ["configmaps"], "namespaces": [ns],
                    "names": [format!("{ns}-status")]}])
        } else {
            json!([
                {"apiGroup": "metrics.example.com", "resources": ["samples"], "names": ["*"]},
                {"apiGroup": "", "resources": ["events"], "namespaces": [ns], "names": ["*"]},
            ])
        };
        spec.insert("upsync".into(), rules);
    }
    let doc = json!({
        "apiVersion": "edge.kubestellar.io/v2alpha1",
        "kind": "EdgePlacement",
        "metadata": {"name": name, "labels": {"app": ns}},
        "spec": spec,
    });
    (
        format!("wds/{}/placements/{name}.yaml", app.wds),
        yaml_docs(&[doc]),
    )
}

/// One `downsync` test selecting part of an app.
fn downsync_test(app: &App, rng: &mut Rng) -> Value {
    let ns = app.name.as_str();
    let some = |rng: &mut Rng, names: Vec<&str>| -> Vec<String> {
        let k = 1 + rng.below(2);
        rng.sample(names.len(), k)
            .into_iter()
            .map(|i| names[i].to_string())
            .collect()
    };
    loop {
        match rng.below(8) {
            0 => return json!({"apiGroup": "", "resources": ["configmaps"], "namespaces": [ns]}),
            1 => {
                let deploys = app.names_of(Kind::Deployment);
                if deploys.is_empty() {
                    continue;
                }
                return json!({"apiGroup": "apps", "resources": ["deployments"], "namespaces": [ns],
                              "objectNames": some(rng, deploys)});
            }
            2 => {
                return json!({"resources": ["*"], "namespaces": [ns], "labelSelectors": [
                    {"matchLabels": {"app": ns, "component": *rng.pick(&COMPONENTS)}}]});
            }
            3 => {
                return json!({"apiGroup": "", "resources": ["services", "serviceaccounts"],
                              "namespaceSelectors": [{"matchLabels": {"app": ns}}]});
            }
            4 => {
                return json!({"apiGroup": "", "resources": ["secrets"], "namespaces": [ns],
                              "objectNames": ["*"]});
            }
            5 if app.crd => {
                return json!({"apiGroup": app.crd_group(), "resources": ["widgets"],
                              "namespaces": [ns]});
            }
            6 => {
                return json!({"apiGroup": "", "resources": ["namespaces", "configmaps"],
                              "namespaces": ["*"], "objectNames": [ns]});
            }
            7 => {
                let components = rng.sample(COMPONENTS.len(), 2);
                return json!({"apiGroup": "apps", "resources": ["deployments"],
                "namespaceSelectors": [{"matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [ns]}]}],
                "labelSelectors": [{"matchExpressions": [
                    {"key": "app", "operator": "In", "values": [ns]},
                    {"key": "component", "operator": "In",
                     "values": components.iter().map(|&c| COMPONENTS[c]).collect::<Vec<_>>()},
                ]}]});
            }
            _ => continue,
        }
    }
}

/// Writes the files under `dir` (created as needed). A file whose content is an error is skipped.
pub fn write_to_dir(files: &[SourceFile], dir: &Path) -> std::io::Result<()> {
    for file in files {
        let Ok(bytes) = &file.content else { continue };
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// A directory being assembled into a git tree.
#[derive(Default)]
struct TreeDir {
    files: BTreeMap<String, Oid>,
    dirs: BTreeMap<String, TreeDir>,
}

impl TreeDir {
    fn write(&self, repo: &Repository) -> Result<Oid, git2::Error> {
        let mut builder = repo.treebuilder(None)?;
        for (name, dir) in &self.dirs {
            let oid = dir.write(repo)?;
            builder.insert(name, oid, 0o040000)?;
        }
        for (name, &oid) in &self.files {
            builder.insert(name, oid, 0o100644)?;
        }
        builder.write()
    }
}

/// Commits the files to the repository at `path` (initialized, with branch `main`, when it is not
/// one yet) as one commit on `HEAD`, writing blobs and trees straight into the object database
/// (no index, no working tree). The commit's author and time are fixed, so the same files on an
/// empty repository give the same commit id. A file whose content is an error is skipped.
pub fn commit_to_repo(files: &[SourceFile], path: &Path) -> Result<Oid, git2::Error> {
    let repo = match Repository::open(path) {
        Ok(repo) => repo,
        Err(_) => Repository::init_opts(path, RepositoryInitOptions::new().initial_head("main"))?,
    };
    let mut root = TreeDir::default();
    for file in files {
        let Ok(bytes) = &file.content else { continue };
        let blob = repo.blob(bytes)?;
        let mut parts: Vec<&str> = file.path.split('/').filter(|p| !p.is_empty()).collect();
        let Some(name) = parts.pop() else { continue };
        let mut dir = &mut root;
        for part in parts {
            dir = dir.dirs.entry(part.to_string()).or_default();
        }
        dir.files.insert(name.to_string(), blob);
    }
    let tree_id = root.write(&repo)?;
    let tree = repo.find_tree(tree_id)?;
    let signature = Signature::new(
        "gitstellar synth",
        "synth@gitstellar.invalid",
        &Time::new(1_700_000_000, 0),
    )?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(
        Some("HEAD"),
        &signature,
        &signature,
        "synthetic repo",
        &tree,
        &parents,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_loads_without_problems() {
        let config = SynthConfig::quick();
        let a = generate(&config);
        let b = generate(&config);
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.path == y.path && x.content == y.content)
        );
        let snapshot = gitstellar::model::load(&a);
        assert!(snapshot.problems.is_empty(), "{:#?}", snapshot.problems);
        let objects: usize = snapshot.workloads.iter().map(|w| w.objects.len()).sum();
        let crds = snapshot
            .workloads
            .iter()
            .flat_map(|w| &w.objects)
            .filter(|o| o.id.kind == "CustomResourceDefinition")
            .count();
        assert_eq!(objects, config.apps * config.objects_per_app + crds);
        let eps: usize = snapshot
            .workloads
            .iter()
            .map(|w| w.edge_placements.len())
            .sum();
        assert_eq!(eps, config.placements);
        let plan = gitstellar::plan::compute(&snapshot);
        assert!(plan.problems.is_empty(), "{:#?}", plan.problems);
        assert_eq!(plan.destinations.len(), config.wecs);
        assert!(plan.destinations.values().any(|d| !d.objects.is_empty()));
    }

    #[test]
    fn commit_round_trips_through_the_repo_reader() {
        let config = SynthConfig {
            wecs: 5,
            apps: 2,
            placements: 4,
            ..SynthConfig::default()
        };
        let files = generate(&config);
        let dir = tempfile::tempdir().unwrap();
        let oid = commit_to_repo(&files, dir.path()).unwrap();
        let repo = gitstellar::repo::SourceRepo::open(dir.path()).unwrap();
        let read = repo.read_commit(oid).unwrap();
        let mut read: Vec<(String, Vec<u8>)> = read
            .into_iter()
            .map(|f| (f.path, f.content.unwrap()))
            .collect();
        read.sort();
        let want: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .map(|f| (f.path, f.content.unwrap()))
            .collect();
        assert_eq!(read, want);
    }
}
