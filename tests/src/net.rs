//! A resolver and connector that follow a simulator `Scenario`'s scripts,
//! so the engine meets exactly the network a conformance vector describes.

use std::future::pending;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use burrow_core::outcome::{ConnectFailure, DnsFailure};
use burrow_core::simulate::{ConnectScript, DnsScript, Scenario};
use burrow_proxy::{BoxFuture, BoxStream, Connector, Interfaces, Resolver};
use tokio::net::TcpStream;

/// Answers lookups and connects from scripts.
///
/// - `Resolves(addrs)` answers those addresses; `Fails(Timeout)` never
///   answers, so the engine's own DNS timer must fire; other failures are
///   returned at once.
/// - `Connects` opens TCP to the loopback `origin` whatever address was
///   asked for (the engine still names the asked address as next hop);
///   `Fails(TimedOut)` never completes, so the engine's connect timer must
///   fire; other failures are returned at once.
pub struct ScriptedNet {
    dns: DnsScript,
    connect: ConnectScript,
    origin: SocketAddr,
    lookups: Mutex<Vec<String>>,
    dialled: Mutex<Vec<SocketAddr>>,
    connects: AtomicUsize,
}

impl ScriptedNet {
    /// Scripts from `dns` and `connect`; successful connects reach `origin`.
    pub fn new(dns: DnsScript, connect: ConnectScript, origin: SocketAddr) -> ScriptedNet {
        ScriptedNet {
            dns,
            connect,
            origin,
            lookups: Mutex::new(Vec::new()),
            dialled: Mutex::new(Vec::new()),
            connects: AtomicUsize::new(0),
        }
    }

    /// The scripts of `scenario`.
    pub fn from_scenario(scenario: &Scenario, origin: SocketAddr) -> ScriptedNet {
        ScriptedNet::new(scenario.dns.clone(), scenario.connect, origin)
    }

    /// Every name resolves to `127.0.0.1` and every connect reaches
    /// `origin`. Only names under `localhost` may resolve to loopback (the
    /// DNS-rebinding rule), so tests name their origins `*.localhost`.
    pub fn to_origin(origin: SocketAddr) -> ScriptedNet {
        let lo = IpAddr::from([127, 0, 0, 1]);
        ScriptedNet::new(
            DnsScript::Resolves(vec![lo]),
            ConnectScript::Connects,
            origin,
        )
    }

    /// The names looked up so far.
    pub fn lookups(&self) -> Vec<String> {
        self.lookups.lock().expect("lock").clone()
    }

    /// The addresses the engine asked to connect to so far.
    pub fn dialled(&self) -> Vec<SocketAddr> {
        self.dialled.lock().expect("lock").clone()
    }

    /// How many upstream connections were actually opened.
    pub fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
}

/// This machine's addresses as a test says they are, so the engine's loop
/// and internal checks see what the simulator is told.
#[derive(Clone, Debug, Default)]
pub struct StaticInterfaces(pub Vec<IpAddr>);

impl Interfaces for StaticInterfaces {
    fn addrs(&self) -> Vec<IpAddr> {
        self.0.clone()
    }
}

/// A resolver that never asks the network: every lookup fails at once with
/// `ServerFailure`. The default of the harness, so that no test looks a name
/// up through the system resolver by accident.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDns;

impl Resolver for NoDns {
    fn resolve(&self, _host: &str, _port: u16) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
        Box::pin(async { Err(DnsFailure::ServerFailure) })
    }
}

impl Resolver for ScriptedNet {
    fn resolve(&self, host: &str, _port: u16) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
        self.lookups.lock().expect("lock").push(host.to_string());
        let answer = match &self.dns {
            DnsScript::Resolves(addrs) => Ok(addrs.clone()),
            DnsScript::Fails(f) => Err(*f),
        };
        Box::pin(async move {
            if answer == Err(DnsFailure::Timeout) {
                pending::<()>().await;
            }
            answer
        })
    }
}

impl Connector for ScriptedNet {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, Result<BoxStream, ConnectFailure>> {
        self.dialled.lock().expect("lock").push(addr);
        Box::pin(async move {
            match self.connect {
                ConnectScript::Connects => {
                    let stream = TcpStream::connect(self.origin)
                        .await
                        .map_err(|_| ConnectFailure::Refused)?;
                    self.connects.fetch_add(1, Ordering::SeqCst);
                    Ok(Box::new(stream) as BoxStream)
                }
                ConnectScript::Fails(ConnectFailure::TimedOut) => pending().await,
                ConnectScript::Fails(f) => Err(f),
            }
        })
    }
}
