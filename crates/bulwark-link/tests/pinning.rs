//! Handshakes over loopback TCP: both keys pinned works; a wrong key on either side, a relay in
//! the middle with keys of its own, and a key unpinned since are each refused, saying which key
//! was presented.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bulwark_link::{Identity, Pins, PublicKey, client_config, peer_key, server_config};
use rustls::pki_types::ServerName;
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn identity() -> (Identity, String) {
    let key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519).unwrap();
    let text = key.to_openssh(LineEnding::LF).unwrap().to_string();
    (Identity::from_openssh(&text).unwrap(), text)
}

/// One connection: the client says "ping", the server answers "pong". Returns what each side
/// saw: the other's key, or its error.
async fn handshake(
    client: &Identity,
    client_pins: Pins,
    server: &Identity,
    server_pins: Pins,
) -> (Result<PublicKey, String>, Result<PublicKey, String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server_config(server, server_pins).unwrap()));
    let serving = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"ping");
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        assert_eq!(
            conn.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        peer_key(conn).ok_or_else(|| "no peer key".to_string())
    });
    let connector = TlsConnector::from(Arc::new(client_config(client, client_pins).unwrap()));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let client_side = async {
        let mut tls = connector
            .connect(ServerName::try_from("agent").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"pong");
        peer_key(tls.get_ref().1).ok_or_else(|| "no peer key".to_string())
    }
    .await;
    (client_side, serving.await.unwrap())
}

#[tokio::test]
async fn both_keys_pinned_make_a_tls13_link() {
    let (core, _) = identity();
    let (agent, _) = identity();
    let (c, s) = handshake(
        &core,
        Pins::of([agent.public()]),
        &agent,
        Pins::of([core.public()]),
    )
    .await;
    assert_eq!(c.unwrap(), agent.public());
    assert_eq!(s.unwrap(), core.public());
}

#[tokio::test]
async fn a_wrong_key_on_either_side_is_refused_by_name() {
    let (core, _) = identity();
    let (agent, _) = identity();
    let (other, _) = identity();
    // The core expects another agent.
    let (c, s) = handshake(
        &core,
        Pins::of([other.public()]),
        &agent,
        Pins::of([core.public()]),
    )
    .await;
    let err = c.unwrap_err();
    assert!(
        err.contains(&format!("presented key {}", agent.public()))
            && err.contains(&other.public().fingerprint()),
        "{err}"
    );
    assert!(s.is_err());
    // The agent has not authorized this core.
    let (c, s) = handshake(
        &core,
        Pins::of([agent.public()]),
        &agent,
        Pins::of([other.public()]),
    )
    .await;
    let err = s.unwrap_err();
    assert!(
        err.contains(&format!("presented key {}", core.public())),
        "{err}"
    );
    assert!(c.is_err());
}

#[tokio::test]
async fn a_relay_with_keys_of_its_own_is_refused() {
    let (core, _) = identity();
    let (agent, _) = identity();
    let (relay, _) = identity();
    // The relay terminates the core's TLS with its own key, however much it trusts the core:
    // the core pinned the agent.
    let (c, _) = handshake(
        &core,
        Pins::of([agent.public()]),
        &relay,
        Pins::of([core.public()]),
    )
    .await;
    assert!(
        c.unwrap_err()
            .contains(&format!("presented key {}", relay.public()))
    );
    // And towards the agent it can only present its own key, which the agent does not know.
    let (_, s) = handshake(
        &relay,
        Pins::of([agent.public()]),
        &agent,
        Pins::of([core.public()]),
    )
    .await;
    assert!(
        s.unwrap_err()
            .contains(&format!("presented key {}", relay.public()))
    );
}

#[tokio::test]
async fn a_key_unpinned_since_is_refused_at_once() {
    let (core, _) = identity();
    let (agent, _) = identity();
    let enrolled = Pins::of([agent.public()]);
    let (c, _) = handshake(&core, enrolled.clone(), &agent, Pins::of([core.public()])).await;
    assert!(c.is_ok());
    enrolled.remove(&agent.public());
    let (c, _) = handshake(&core, enrolled.clone(), &agent, Pins::of([core.public()])).await;
    assert!(c.unwrap_err().contains("pinned: none"));
    enrolled.add(agent.public());
    assert!(enrolled.contains(&agent.public()));
}

#[test]
fn keys_read_and_print_as_openssh_does() {
    let (id, text) = identity();
    let private = PrivateKey::from_openssh(&text).unwrap();
    let line = private.public_key().to_openssh().unwrap();
    let public = PublicKey::from_openssh(&line).unwrap();
    assert_eq!(public, id.public());
    assert_eq!(
        public.fingerprint(),
        private
            .public_key()
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string()
    );
    assert!(public.fingerprint().starts_with("SHA256:"));
    assert_eq!(
        PublicKey::from_openssh(&public.to_openssh()).unwrap(),
        public
    );
    assert_eq!(PublicKey::from_spki(&public.spki()), Some(public));
    assert!(PublicKey::from_spki(&public.spki()[1..]).is_none());
    // Other kinds of keys are refused with what they are.
    let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 user@host";
    assert!(PublicKey::from_openssh(rsa).is_err());
    assert!(Identity::from_openssh("-----BEGIN NOTHING-----").is_err());
    // ssh-keygen, when installed, prints the same fingerprint.
    let dir = std::env::temp_dir().join(format!("bulwark-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("key.pub");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    if let Ok(out) = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&file)
        .output()
    {
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains(&public.fingerprint()), "{said}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_files_are_made_once_private_and_authorized_lines_checked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent_ed25519");
    let made = bulwark_link::load_or_create(&path, "bulwark-agent").unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let again = bulwark_link::load_or_create(&path, "bulwark-agent").unwrap();
    assert_eq!(made.public(), again.public(), "made once, then read");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = bulwark_link::load_or_create(&path, "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("chmod 600"), "{err}");

    let authorized = dir.path().join("authorized_cores");
    let (core, _) = identity();
    std::fs::write(
        &authorized,
        format!("# the core at backup1\n\n{}\n", core.public().to_openssh()),
    )
    .unwrap();
    assert_eq!(
        bulwark_link::read_authorized(&authorized).unwrap(),
        [core.public()]
    );
    // An error page appended to the file is refused, naming its line.
    std::fs::write(
        &authorized,
        format!(
            "{}\n<html>502 Bad Gateway</html>\n",
            core.public().to_openssh()
        ),
    )
    .unwrap();
    let err = bulwark_link::read_authorized(&authorized)
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
}
