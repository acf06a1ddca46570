//! A real OpenLDAP `slapd` on loopback for the LDAP source's tests: a slapd.conf, TLS from a CA
//! made here (rcgen), the directory loaded with `slapadd` before start, stopped by its PID.
//!
//! When slapd is not installed the tests skip with a loud message, unless
//! `ROSTERD_REQUIRE_SLAPD` is set (scripts/test.sh sets it, so CI never skips).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

pub const BASE: &str = "dc=acme,dc=example";
/// The bind DN rosterd reads as: no size limit, read-only.
pub const READER_DN: &str = "cn=rosterd,ou=services,dc=acme,dc=example";
pub const READER_PASSWORD: &str = "ldap-bind-SEEDED-3f9a1c7e";
/// A bind DN under the directory's size limit ([`SIZE_LIMIT`] entries a search, paged or not).
pub const LIMITED_DN: &str = "cn=limited,ou=services,dc=acme,dc=example";
pub const SIZE_LIMIT: usize = 20;
const ROOT_DN: &str = "cn=admin,dc=acme,dc=example";
const ROOT_PASSWORD: &str = "root-SEEDED-unused-by-rosterd";
/// The three OUs people are spread over.
pub const OUS: [&str; 3] = ["sales", "eng", "ops"];

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";

/// A running slapd; stopped (by PID) when dropped.
pub struct Slapd {
    dir: TempDir,
    child: Option<Child>,
    pub port: u16,
    pub tls_port: u16,
}

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

impl Slapd {
    /// slapd with these entries (LDIF, after the base and the reader), or `None` when slapd
    /// is not installed and `ROSTERD_REQUIRE_SLAPD` is not set.
    pub fn start(entries: &str) -> Option<Slapd> {
        if !Path::new(SLAPD).exists() || !Path::new(SLAPADD).exists() {
            assert!(
                std::env::var_os("ROSTERD_REQUIRE_SLAPD").is_none(),
                "slapd is not installed (apt-get install slapd) and ROSTERD_REQUIRE_SLAPD is set"
            );
            eprintln!("\n*** SKIPPED: {SLAPD} is not installed (apt-get install slapd); LDAP tests did not run ***\n");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir(dir.path().join("db")).expect("the db folder");
        write_tls(dir.path());
        std::fs::write(dir.path().join("slapd.conf"), conf(dir.path())).expect("slapd.conf");
        let ldif = format!("{}{entries}", base_ldif());
        std::fs::write(dir.path().join("data.ldif"), ldif).expect("data.ldif");
        let status = Command::new(SLAPADD)
            .args(["-q", "-f"])
            .arg(dir.path().join("slapd.conf"))
            .arg("-l")
            .arg(dir.path().join("data.ldif"))
            .status()
            .expect("slapadd runs");
        assert!(status.success(), "slapadd failed");
        let mut slapd = Slapd { dir, child: None, port: free_port(), tls_port: free_port() };
        slapd.restart();
        Some(slapd)
    }

    /// Start (again) on the same ports and data; waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let urls = format!("ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/", self.port, self.tls_port);
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &urls, "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd starts");
        self.child = Some(child);
        // Until it listens: slapd opens its ports after loading the database.
        for _ in 0..400 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && TcpStream::connect(("127.0.0.1", self.tls_port)).is_ok()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("slapd exited at start: {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("slapd did not listen on 127.0.0.1:{}", self.port);
    }

    /// Stop it by its PID (SIGKILL: a server that vanishes mid-answer) and reap it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The PID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    /// The test CA's certificate (PEM), which signed slapd's.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Apply an LDIF change as the root DN, over the same kind of connection rosterd uses,
    /// with `ldapmodify` (Debian's ldap-utils).
    pub fn modify(&self, ldif: &str) {
        let path = self.dir.path().join("change.ldif");
        std::fs::write(&path, ldif).expect("change.ldif");
        let out = Command::new("ldapmodify")
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PASSWORD, "-f"])
            .arg(&path)
            .output()
            .expect("ldapmodify runs (apt-get install ldap-utils)");
        assert!(out.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
database mdb
maxsize 1073741824
suffix \"{BASE}\"
rootdn \"{ROOT_DN}\"
rootpw {ROOT_PASSWORD}
directory {d}/db
sizelimit {SIZE_LIMIT}
limits dn.exact=\"{READER_DN}\" size=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact=\"{READER_DN}\" read by dn.exact=\"{LIMITED_DN}\" read by * none
"
    )
}

/// The base entry, the OUs and the reader.
fn base_ldif() -> String {
    let mut out = format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: acme\no: Acme\n\n\
         dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: {READER_DN}\nobjectClass: person\ncn: rosterd\nsn: rosterd\nuserPassword: {READER_PASSWORD}\n\n\
         dn: {LIMITED_DN}\nobjectClass: person\ncn: limited\nsn: limited\nuserPassword: {READER_PASSWORD}\n\n\
         dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    for ou in OUS {
        out.push_str(&format!("dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n\n"));
    }
    out
}

/// The DN of person `i` (in OU `i % 3`).
pub fn person_dn(i: usize) -> String {
    format!("uid=p{i},ou={},{BASE}", OUS[i % 3])
}

/// Person `i`: uid p{i}, mail p{i}@acme.example, G{i} F{i}, employeeNumber {i}.
pub fn person_ldif(i: usize) -> String {
    format!(
        "dn: {}\nobjectClass: inetOrgPerson\nuid: p{i}\ncn: G{i} F{i}\ngivenName: G{i}\nsn: F{i}\n\
         mail: p{i}@acme.example\nemployeeNumber: {i}\n\n",
        person_dn(i)
    )
}

/// A groupOfNames `cn` with these member DNs (at least one, as the schema wants).
pub fn group_ldif(cn: &str, members: &[String]) -> String {
    let lines: String = members.iter().map(|m| format!("member: {m}\n")).collect();
    format!("dn: cn={cn},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}\n")
}

/// A `referral` entry `ou={ou}` pointing at another server's naming context: a subtree
/// search from the base returns a search reference for it.
pub fn referral_ldif(ou: &str) -> String {
    format!(
        "dn: ou={ou},{BASE}\nobjectClass: referral\nobjectClass: extensibleObject\nou: {ou}\n\
         ref: ldap://partner.example/ou=people,dc=partner,dc=example\n\n"
    )
}

pub fn group_dn(cn: &str) -> String {
    format!("cn={cn},ou=groups,{BASE}")
}

/// The test CA and slapd's certificate for 127.0.0.1 / localhost, as PEM files.
fn write_tls(dir: &Path) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    ca.distinguished_name.push(rcgen::DnType::CommonName, "rosterd slapd test CA");
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("ca.pem");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).expect("params");
    let key = rcgen::KeyPair::generate().expect("a server key");
    let cert = server.signed_by(&key, &issuer).expect("the server certificate");
    std::fs::write(dir.join("server.pem"), cert.pem()).expect("server.pem");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("server.key");
}

/// A loopback TCP relay in front of slapd that counts what slapd sends on each connection and,
/// once armed, kills slapd (SIGKILL, by PID) when one connection has carried `limit` bytes:
/// slapd gone in the middle of an answer, at a point the byte count makes repeatable.
pub struct Relay {
    pub port: u16,
    limit: std::sync::Arc<std::sync::atomic::AtomicU64>,
    last: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pid: std::sync::Arc<std::sync::atomic::AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(upstream: u16) -> Relay {
        use std::sync::atomic::{AtomicU32, AtomicU64};
        use std::sync::Arc;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a relay port");
        let port = listener.local_addr().expect("its address").port();
        let (limit, last, pid) =
            (Arc::new(AtomicU64::new(u64::MAX)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU32::new(0)));
        let shared = (limit.clone(), last.clone(), pid.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { continue };
                tokio::spawn(relay(client, server, shared.clone()));
            }
        });
        Relay { port, limit, last, pid, task }
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Kill `pid` once a connection has carried `limit` bytes from slapd.
    pub fn arm(&self, limit: u64, pid: u32) {
        self.pid.store(pid, std::sync::atomic::Ordering::SeqCst);
        self.limit.store(limit, std::sync::atomic::Ordering::SeqCst);
    }

    /// Bytes slapd sent on the latest connection.
    pub fn last_connection_bytes(&self) -> u64 {
        self.last.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Counters = (
    std::sync::Arc<std::sync::atomic::AtomicU64>,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
    std::sync::Arc<std::sync::atomic::AtomicU32>,
);

async fn relay(client: tokio::net::TcpStream, server: tokio::net::TcpStream, (limit, last, pid): Counters) {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upward = tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut server_write).await });
    let mut sent: u64 = 0;
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = server_read.read(&mut buf).await {
        if n == 0 {
            break;
        }
        sent += n as u64;
        last.store(sent, SeqCst);
        if sent >= limit.load(SeqCst) {
            // SAFETY: kill(2) on the PID of the slapd this test started.
            unsafe { libc::kill(pid.load(SeqCst) as i32, libc::SIGKILL) };
            break;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    upward.abort();
}
