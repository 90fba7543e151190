//! Configuration as data: what a reconcile (and a future `gitstellar serve`) works on, as one
//! validated structure, [`Config`]. The command line's arguments are turned into it; a service
//! reads it from a YAML file ([`Config::from_yaml`], camelCase keys, unknown keys refused).
//!
//! Input: CLI arguments or a YAML document. Output: a [`Config`] whose parts say where the
//! source is ([`SourceConfig`]), how the WECs are reached ([`ClusterConfig`]), how they are
//! synced ([`SyncConfig`]), where caches live ([`CacheConfig`], with the one cache-root rule),
//! and the instance name (the `gitstellar.io/managed-by` value).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The YAML does not parse, or holds a key or value that is not allowed (serde names it).
    #[error("reading the configuration")]
    Parse(#[source] gitstellar_core::yaml::YamlError),
    /// A value is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as written in the file (`clusters.concurrency`).
        field: &'static str,
        /// Why.
        message: String,
    },
    /// A push was asked for a local repository.
    #[error("--push needs a remote --repo URL (a local --repo is written in place)")]
    PushNeedsUrl,
    /// No cache directory was given and there is no home directory to put one in.
    #[error("no cache directory (HOME is not set): give --cache-dir")]
    NoCacheRoot,
}

/// Everything a reconciler and its sync controller need (the file of `serve --config`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// The source repository.
    pub source: SourceConfig,
    /// How the WECs are reached.
    #[serde(default)]
    pub clusters: ClusterConfig,
    /// How they are synced.
    #[serde(default)]
    pub sync: SyncConfig,
    /// Where caches of remote repositories are kept.
    #[serde(default)]
    pub cache: CacheConfig,
    /// The name of this gitstellar instance: the value of the `gitstellar.io/managed-by` label.
    #[serde(default = "default_instance")]
    pub instance: String,
}

/// The configuration `gitstellar serve --config FILE` will read: the same structure.
pub type ServeConfig = Config;

/// The source repository and the revision to reconcile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceConfig {
    /// A URL, or a path to a repository (or a directory inside one).
    pub repo: String,
    /// The tracked branch; default: the repository's default branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The revision to reconcile (on the tracked branch's history); default: its tip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// How often a service fetches the source (`30s`, `5m`); unused by one-shot commands.
    #[serde(
        default,
        with = "duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub poll_interval: Option<Duration>,
    /// Recompute every mailbox even when the last pass could be reused.
    #[serde(default)]
    pub full: bool,
    /// Push the refs to the remote (only with a URL).
    #[serde(default)]
    pub push: bool,
}

impl SourceConfig {
    /// Whether [`SourceConfig::repo`] names a remote rather than a local path.
    pub fn is_remote(&self) -> bool {
        is_url(&self.repo)
    }
}

/// How the WECs are reached: a kubeconfig, a context per WEC, how many at once, how long each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterConfig {
    /// The kubeconfig (default: `$KUBECONFIG`, then `~/.kube/config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// The context of a WEC whose context is not named after it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contexts: BTreeMap<String, String>,
    /// How many WECs are synced at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// How long one WEC's sync may take (all its attempts).
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            kubeconfig: None,
            contexts: BTreeMap::new(),
            concurrency: default_concurrency(),
            timeout: default_timeout(),
        }
    }
}

/// Whether and how the WECs are synced after a pass (push mode).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SyncConfig {
    /// Sync the WECs after writing the refs.
    #[serde(default)]
    pub enabled: bool,
    /// Sync only the WECs whose mailbox changed since their last clean sync.
    #[serde(default)]
    pub changed_only: bool,
}

/// Where the bare caches of remote repositories are kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheConfig {
    /// The directory; default: [`crate::repo::remote::default_cache_root`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
}

impl CacheConfig {
    /// The cache root: the one given, else the default under the home directory.
    pub fn root(&self) -> Result<PathBuf, ConfigError> {
        match &self.root {
            Some(dir) => Ok(dir.clone()),
            None => crate::repo::remote::default_cache_root().ok_or(ConfigError::NoCacheRoot),
        }
    }
}

fn default_instance() -> String {
    "gitstellar".into()
}

fn default_concurrency() -> usize {
    16
}

fn default_timeout() -> Duration {
    crate::sync::fleet::DEFAULT_DEADLINE
}

impl Config {
    /// A configuration for `repo` with every default.
    pub fn new(repo: &str) -> Config {
        Config {
            source: SourceConfig {
                repo: repo.to_string(),
                ..Default::default()
            },
            clusters: ClusterConfig::default(),
            sync: SyncConfig::default(),
            cache: CacheConfig::default(),
            instance: default_instance(),
        }
    }

    /// Reads a YAML document and validates it.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = gitstellar_core::yaml::from_str(text).map_err(ConfigError::Parse)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: values in range, and options that go together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| {
            Err(ConfigError::Invalid {
                field,
                message: message.to_string(),
            })
        };
        if self.source.repo.is_empty() {
            return invalid("source.repo", "must not be empty");
        }
        if self.instance.is_empty() {
            return invalid("instance", "must not be empty");
        }
        if self.source.push && !self.source.is_remote() {
            return Err(ConfigError::PushNeedsUrl);
        }
        Ok(())
    }
}

/// Whether `repo` names a remote rather than a local path.
pub fn is_url(repo: &str) -> bool {
    repo.contains("://") || scp_like(repo)
}

/// `user@host:path`, as git reads it (no slash before the colon).
fn scp_like(repo: &str) -> bool {
    match repo.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/') && host.contains('@'),
        None => false,
    }
}

/// `30s`, `5m`, `2h`, `250ms`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m or 1h"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?}: the unit must be ms, s, m or h")),
    };
    Ok(Duration::from_secs(seconds))
}

/// Durations in files as people write them (`30s`, `5m`), through [`parse_duration`].
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::sync::fleet::human_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|t| super::super::parse_duration(&t).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_configuration_reads_from_yaml() {
        let config = Config::from_yaml(
            "source:\n  repo: https://git.example.com/fleet.git\n  branch: main\n  pollInterval: 30s\n\
             clusters:\n  kubeconfig: /etc/gitstellar/kubeconfig\n  contexts:\n    florin: kind-florin\n  concurrency: 4\n\
             instance: east\n",
        )
        .unwrap();
        assert_eq!(config.source.repo, "https://git.example.com/fleet.git");
        assert_eq!(config.source.branch.as_deref(), Some("main"));
        assert_eq!(config.source.poll_interval, Some(Duration::from_secs(30)));
        assert!(config.source.is_remote());
        assert_eq!(
            config.clusters.kubeconfig.as_deref(),
            Some(std::path::Path::new("/etc/gitstellar/kubeconfig"))
        );
        assert_eq!(config.clusters.contexts["florin"], "kind-florin");
        assert_eq!(config.clusters.concurrency, 4);
        assert_eq!(config.clusters.timeout, Duration::from_secs(300));
        assert_eq!(config.instance, "east");
        assert!(!config.sync.enabled);
        let back = gitstellar_core::yaml::to_string(&config).unwrap();
        assert_eq!(Config::from_yaml(&back).unwrap(), config, "{back}");
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let error = Config::from_yaml("source:\n  repo: .\n  pollIntervall: 30s\n").unwrap_err();
        let text = crate::repo::error_chain(&error);
        assert!(text.contains("pollIntervall"), "{text}");
        let error = Config::from_yaml("source: {repo: .}\ncluster: {}\n").unwrap_err();
        assert!(crate::repo::error_chain(&error).contains("cluster"));
    }

    #[test]
    fn values_are_validated() {
        let error = Config::from_yaml("source: {repo: .}\ninstance: ''\n").unwrap_err();
        assert_eq!(error.to_string(), "instance: must not be empty");
        let mut config = Config::new(".");
        config.source.push = true;
        assert!(matches!(config.validate(), Err(ConfigError::PushNeedsUrl)));
        config.source.repo = "git@example.com:fleet.git".into();
        assert!(config.validate().is_ok());
        let error = Config::from_yaml("source: {repo: ., pollInterval: soon}\n").unwrap_err();
        assert!(crate::repo::error_chain(&error).contains("soon"));
    }

    #[test]
    fn urls_are_recognised_and_redacted() {
        assert!(is_url("https://example.com/r.git"));
        assert!(is_url("git@example.com:r.git"));
        assert!(!is_url("./some/dir"));
        assert!(!is_url("/tmp/a:b"));
        assert_eq!(
            crate::repo::remote::redact_url("https://user:secret@example.com/r.git"),
            "https://example.com/r.git"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }
}
