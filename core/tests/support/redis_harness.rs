//! Test harness: our own `redis-server` processes on free loopback ports, each in a temporary
//! directory, stopped (process group SIGKILL) and cleaned up on drop, also when a test panics.
//! Never touches 127.0.0.1:6379. Needs `redis-server` and `redis-cli` on PATH
//! (scripts/install-deps.sh installs them).

#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How a single server is started.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// `--appendonly yes --appendfsync always` instead of no persistence at all.
    pub aof_always: bool,
    /// Also listen on a unix socket in the server's directory.
    pub unix_socket: bool,
    /// Extra `redis-server` arguments, e.g. `["--maxmemory", "1mb"]`.
    pub extra_args: Vec<String>,
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "koa-session-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nobody listens on right now (the OS picks it; never 6379).
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().unwrap().port();
        if port != 6379 {
            return port;
        }
    }
}

/// One `redis-server` we started.
pub struct RedisServer {
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
    dir: TempDir,
}

impl RedisServer {
    pub fn start(options: ServerOptions) -> RedisServer {
        Self::start_with(options, &[])
    }

    /// Starts a server with `cluster_args` appended after the per-port arguments (used by
    /// [`RedisCluster`]). Retries on another port if the chosen one was taken meanwhile.
    fn start_with(options: ServerOptions, cluster_args: &[String]) -> RedisServer {
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = TempDir::new("redis");
            let port = free_port();
            let mut args: Vec<String> = vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                dir.path().display().to_string(),
                "--logfile".into(),
                dir.path().join("redis.log").display().to_string(),
                "--daemonize".into(),
                "no".into(),
                "--save".into(),
                "".into(),
            ];
            if options.aof_always {
                args.extend(["--appendonly", "yes", "--appendfsync", "always"].map(String::from));
            } else {
                args.extend(["--appendonly", "no"].map(String::from));
            }
            if options.unix_socket {
                args.extend([
                    "--unixsocket".into(),
                    dir.path().join("redis.sock").display().to_string(),
                    "--unixsocketperm".into(),
                    "700".into(),
                ]);
            }
            args.extend(cluster_args.iter().cloned());
            args.extend(options.extra_args.iter().cloned());
            let mut server = RedisServer { port, args, child: None, dir };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("redis-server did not start:\n{last_log}");
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server (install it with scripts/install-deps.sh): {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("wait redis-server") {
                self.child = None;
                return Err(format!("redis-server on port {} exited with {status}:\n{}", self.port, self.log()));
            }
            if self.try_cli(&["PING"]).is_some_and(|out| out.trim() == "PONG") {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!("redis-server on port {} never answered PING:\n{}", self.port, self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn unix_socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// SIGKILLs the server's process group (like a crash; nothing is flushed beyond what
    /// fsync already wrote) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, directory and options (the AOF, if any, is
    /// replayed). Waits a little if the port is still held.
    pub fn restart(&mut self) {
        self.kill();
        let mut last = String::new();
        for _ in 0..50 {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(log) => last = log,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}:\n{last}", self.port);
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers.
    pub fn pause(&self) {
        if let Some(pid) = self.pid() {
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGSTOP);
            }
        }
    }

    pub fn resume(&self) {
        if let Some(pid) = self.pid() {
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGCONT);
            }
        }
    }

    /// Runs `redis-cli -p PORT args...` and returns its stdout; panics if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args).unwrap_or_else(|| panic!("redis-cli -p {} {:?} failed", self.port, args))
    }

    /// Like [`cli`](Self::cli) with `input` on stdin (for `-x`: arbitrary bytes as the last
    /// argument).
    pub fn cli_stdin(&self, args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        let mut child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run redis-cli");
        child.stdin.take().unwrap().write_all(input).expect("write redis-cli stdin");
        let out = child.wait_with_output().expect("wait redis-cli");
        assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn try_cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// How a cluster is laid out.
#[derive(Clone, Copy, Debug)]
pub struct ClusterOptions {
    pub masters: usize,
    pub replicas_per_master: usize,
    /// `cluster-node-timeout`: how long a node may be unreachable before it counts as failed
    /// (and a replica of a failed master is promoted).
    pub node_timeout_ms: u64,
}

/// A Redis Cluster: masters, optionally replicas, every slot assigned, state ok everywhere.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// `n` masters, no replicas.
    pub fn start(n: usize) -> RedisCluster {
        Self::start_with(ClusterOptions { masters: n, replicas_per_master: 0, node_timeout_ms: 5000 })
    }

    /// Masters with replicas (`redis-cli --cluster create --cluster-replicas R`); returns once
    /// every slot is served and every replica is in sync with its master.
    pub fn start_with(o: ClusterOptions) -> RedisCluster {
        let n = o.masters * (1 + o.replicas_per_master);
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            // An explicit bus port: the default (port + 10000) may be above 65535 or taken.
            let bus = free_port();
            let args: Vec<String> = vec![
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-config-file".into(),
                "nodes.conf".into(),
                "--cluster-port".into(),
                bus.to_string(),
                "--cluster-node-timeout".into(),
                o.node_timeout_ms.to_string(),
            ];
            nodes.push(RedisServer::start_with(ServerOptions::default(), &args));
        }
        let cluster = RedisCluster { nodes };
        let addrs: Vec<String> = cluster.nodes.iter().map(|s| format!("127.0.0.1:{}", s.port())).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &o.replicas_per_master.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.wait_ok();
        if o.replicas_per_master > 0 {
            cluster.wait_replicas_in_sync();
        }
        cluster
    }

    /// A node of ours that is running, to ask about the cluster.
    fn any_live(&self) -> &RedisServer {
        self.nodes.iter().find(|n| n.pid().is_some()).expect("a live node")
    }

    /// Indices of the running nodes that are masters (by their own `ROLE`).
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].pid().is_some() && self.nodes[i].try_cli(&["ROLE"]).is_some_and(|r| r.starts_with("master")))
            .collect()
    }

    /// Waits until every running replica reports its master link up.
    pub fn wait_replicas_in_sync(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = self.nodes.iter().filter(|n| n.pid().is_some()).all(|n| {
                n.try_cli(&["INFO", "replication"])
                    .is_some_and(|info| info.contains("role:master") || info.contains("master_link_status:up"))
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "replicas never came in sync");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running node reports `cluster_state:ok`, all slots assigned, all
    /// nodes known.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let want_known = format!("cluster_known_nodes:{}", self.nodes.len());
        loop {
            let ok = self.nodes.iter().filter(|n| n.pid().is_some()).all(|n| {
                n.try_cli(&["CLUSTER", "INFO"]).is_some_and(|info| {
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_assigned:16384") && info.contains(&want_known)
                })
            });
            if ok {
                return;
            }
            if Instant::now() > deadline {
                let infos: Vec<String> = self.nodes.iter().map(|n| n.try_cli(&["CLUSTER", "INFO"]).unwrap_or_default()).collect();
                panic!("cluster never reached state ok:\n{}", infos.join("\n---\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }

    /// The node's cluster id.
    pub fn node_id(&self, i: usize) -> String {
        self.nodes[i].cli(&["CLUSTER", "MYID"]).trim().to_owned()
    }

    /// The slot `key` hashes to.
    pub fn keyslot(&self, key: &str) -> u16 {
        self.any_live().cli(&["CLUSTER", "KEYSLOT", key]).trim().parse().expect("CLUSTER KEYSLOT answer")
    }

    /// Index of the node that serves `slot` (per the first running node's view).
    pub fn owner_of(&self, slot: u16) -> usize {
        let out = self.any_live().cli(&["CLUSTER", "SLOTS"]);
        // redis-cli prints the nested reply flattened: start, end, ip, port, id, ... per range.
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        let mut i = 0;
        while i + 3 < lines.len() {
            if let (Ok(start), Ok(end)) = (lines[i].parse::<u16>(), lines[i + 1].parse::<u16>()) {
                if lines[i + 2] == "127.0.0.1" && (start..=end).contains(&slot) {
                    let port: u16 = lines[i + 3].parse().expect("port in CLUSTER SLOTS");
                    return self.nodes.iter().position(|n| n.port() == port).expect("owner is one of ours");
                }
            }
            i += 1;
        }
        panic!("no owner for slot {slot} in:\n{out}");
    }
}
