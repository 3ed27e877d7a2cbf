//! A cluster owned by one test: started on construction with
//! `scripts/cluster.sh start` in its own temporary directory (own ports,
//! own etcd, own fragment stores), stopped when dropped. For tests that
//! disturb the cluster (killing a broker, changing the broker count) and so
//! must not share the one `scripts/with-cluster.sh` started.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Cluster, HarnessError};

/// A private cluster, stopped (every process killed, directory removed) on
/// drop.
#[derive(Debug)]
pub struct ScopedCluster {
    cluster: Cluster,
    dir: PathBuf,
}

/// `scripts/cluster.sh` of this repository.
fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster.sh")
}

/// Reads `export NAME='value'` / `export NAME=value` lines of an env file.
fn parse_env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(name, value)| (name.to_owned(), unquote(value)))
        .collect()
}

/// Undoes the single quoting of `scripts/cluster.sh` (`'` as `'\''`).
fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("'\\''", "'"),
        None => value.to_owned(),
    }
}

fn script_error(what: &str, output: &std::process::Output) -> HarnessError {
    HarnessError::Script {
        what: what.to_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl ScopedCluster {
    /// Starts etcd and `brokers` brokers. Reuses `GAZETTE_BIN_DIR` from the
    /// environment when set (as under `scripts/with-cluster.sh`), else the
    /// script installs or finds the binaries itself.
    pub fn start(brokers: usize) -> Result<Self, HarnessError> {
        Self::start_with(brokers, &[])
    }

    /// [`ScopedCluster::start`] with extra variables for `scripts/cluster.sh`,
    /// e.g. `("GAZETTE_ETCD_LEASE", "3s")` for fast failover or
    /// `("GAZETTE_AUTH_KEYS", keys)` for authorization.
    pub fn start_with(brokers: usize, vars: &[(&str, &str)]) -> Result<Self, HarnessError> {
        let dir = std::env::temp_dir().join(format!(
            "gazette-scoped-{}",
            crate::unique_journal_name("c").replace('/', "-")
        ));
        let output = Command::new("bash")
            .arg(cluster_script())
            .arg("start")
            .env("GAZETTE_CLUSTER_DIR", &dir)
            .env("GAZETTE_CLUSTER_SIZE", brokers.to_string())
            .envs(vars.iter().copied())
            .output()
            .map_err(|e| HarnessError::Script {
                what: "run scripts/cluster.sh".into(),
                stderr: e.to_string(),
            })?;
        if !output.status.success() {
            // A failed start stops what it started itself.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(script_error("scripts/cluster.sh start", &output));
        }
        // From here on, dropping `scoped` stops the cluster.
        let mut scoped = Self {
            cluster: Cluster::placeholder(),
            dir,
        };
        let env = std::fs::read_to_string(scoped.dir.join("env")).unwrap_or_default();
        let vars = parse_env_file(&env);
        scoped.cluster = Cluster::from_lookup(&|name| vars.get(name).cloned())?;
        Ok(scoped)
    }

    /// The cluster's description.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The cluster's state directory (logs, stores, PIDs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// PIDs of the recorded processes named `name` (`etcd`, `broker-1`, ...).
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        let pids = std::fs::read_to_string(self.dir.join("pids")).ok()?;
        pids.lines().find_map(|line| {
            let mut fields = line.split_whitespace();
            let pid = fields.next()?.parse().ok()?;
            (fields.next()? == name).then_some(pid)
        })
    }

    /// Kills broker `index` (in cluster order) with SIGKILL, as a crash, and
    /// returns once the process is gone.
    pub fn kill_broker(&self, index: usize) -> Result<(), HarnessError> {
        let id = &self.cluster.brokers[index].id;
        let pid = self.pid_of(id).ok_or_else(|| HarnessError::Script {
            what: format!("find the PID of {id}"),
            stderr: String::new(),
        })?;
        let output = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .output()
            .map_err(|e| HarnessError::Script {
                what: "run kill".into(),
                stderr: e.to_string(),
            })?;
        if !output.status.success() {
            return Err(script_error(&format!("kill {id}"), &output));
        }
        // SIGKILL is asynchronous: wait until every thread has exited and
        // the broker's port no longer accepts connections.
        let endpoint = &self.cluster.brokers[index].endpoint;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_is_running(pid) || endpoint_accepts(endpoint) {
            if std::time::Instant::now() > deadline {
                return Err(HarnessError::Timeout {
                    what: format!("{id} (pid {pid}) to exit"),
                    waited: std::time::Duration::from_secs(10),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(())
    }
}

/// True while any thread of process `pid` has not exited. (The thread-group
/// leader of a multi-threaded process can be a zombie while other threads,
/// which still hold its files and sockets, are exiting.)
pub fn process_is_running(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            // The state follows the parenthesised command name.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .is_some_and(|state| state != 'Z' && state != 'X')
        })
    })
}

/// True while something accepts TCP connections at `endpoint`'s host:port.
fn endpoint_accepts(endpoint: &str) -> bool {
    let authority = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .trim_end_matches('/');
    use std::net::ToSocketAddrs;
    authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200))
                .is_ok()
        })
}

impl Drop for ScopedCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(cluster_script())
            .arg("stop")
            .env("GAZETTE_CLUSTER_DIR", &self.dir)
            .output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_values_are_unquoted() {
        let vars = parse_env_file(
            "# comment\nexport A='x,y'\nexport B=plain\nexport C='it'\\''s'\nnot an export\n",
        );
        assert_eq!(vars["A"], "x,y");
        assert_eq!(vars["B"], "plain");
        assert_eq!(vars["C"], "it's");
        assert_eq!(vars.len(), 3);
    }
}
