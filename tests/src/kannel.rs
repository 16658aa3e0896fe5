//! A real Kannel SMS gateway on loopback for the SMS tests: `bearerbox`, `smsbox`, and
//! Kannel's own `fakesmsc` standing in for the phone network (it prints every message the
//! gateway hands it). Debian's `kannel` and `kannel-extras`, installed by `dev/install-test-deps`.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::smtp::free_port;

/// A running gateway; everything stops when it drops.
#[derive(Debug)]
pub struct Kannel {
    children: Vec<Child>,
    dir: tempfile::TempDir,
    /// The sendsms URL.
    pub sendsms_url: String,
    /// The port of the second fake SMSC that only carries messages *from* phones.
    mo_port: u16,
}

const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not open port {port} (its log is in the test's Kannel directory)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until bearerbox's status page shows the smsbox connected and the fake SMSC
/// online: smsbox opens its sendsms port before it has joined bearerbox, and a send in
/// between is refused ("Peer disconnected"), which a loaded CI machine did hit.
fn wait_until_connected(admin: u16) {
    let url = format!("http://127.0.0.1:{admin}/status.txt?password=adminpw");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = ureq::get(&url)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default();
        let smsbox = status.contains("smsbox:");
        let online = status
            .lines()
            .any(|l| l.trim_start().starts_with("fake[fake]") && l.contains("(online"));
        if smsbox && online {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Kannel did not come up (smsbox connected: {smsbox}, SMSC online: {online})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How to get Kannel, in the one line a failing test prints.
const INSTALL_HINT: &str = "Kannel is not installed: run `dev/test` (installs what the tests \
     need), or `apt-get install kannel kannel-extras`";

/// Fails the test with [`INSTALL_HINT`] unless the gateway's programs are all here.
fn assert_kannel_installed() {
    let on_path = |program: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
    };
    assert!(
        on_path("bearerbox") && on_path("smsbox") && Path::new(FAKESMSC).is_file(),
        "{INSTALL_HINT}"
    );
}

/// A message the phone network received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// The text, decoded (UCS-2 included).
    pub text: String,
}

fn url_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

impl Kannel {
    /// Starts the gateway with one `sendsms-user` (`kizuna` / `password`), concatenation
    /// on, and waits until it takes requests.
    pub fn start(password: &str) -> Self {
        Self::start_with_inbound(password, None)
    }

    /// Like [`Kannel::start`], and with `inbound_url` every message a phone sends
    /// ([`Kannel::send_from_phone`]) goes to that URL (an `sms-service` with `get-url`,
    /// Kannel's `%` escapes expanded) and no reply SMS is sent back.
    pub fn start_with_inbound(password: &str, inbound_url: Option<&str>) -> Self {
        assert_kannel_installed();
        let dir = tempfile::tempdir().expect("kannel directory");
        let (admin, boxes, smsc, sendsms) = (free_port(), free_port(), free_port(), free_port());
        let mo_port = free_port();
        let d = dir.path().display();
        // Phones send through a second fake SMSC (`mo`) that no outgoing message is routed
        // to, so the test can connect a sender of its own without disturbing the network.
        let mut conf = format!(
            "group = core\nadmin-port = {admin}\nadmin-password = adminpw\nsmsbox-port = {boxes}\n\
             log-level = 0\nlog-file = \"{d}/bearerbox.log\"\nbox-allow-ip = \"127.0.0.1\"\n\
             dlr-storage = internal\n\n\
             group = smsc\nsmsc = fake\nsmsc-id = fake\nport = {smsc}\nconnect-allow-ip = \"127.0.0.1\"\n\n\
             group = smsbox\nbearerbox-host = 127.0.0.1\nsendsms-port = {sendsms}\n\
             log-file = \"{d}/smsbox.log\"\nlog-level = 0\n\n\
             group = sendsms-user\nusername = kizuna\npassword = {password}\n\
             concatenation = true\nmax-messages = 10\n\n\
             group = smsc\nsmsc = fake\nsmsc-id = mo\nport = {mo_port}\n\
             connect-allow-ip = \"127.0.0.1\"\nallowed-smsc-id = phones-only\n"
        );
        if let Some(url) = inbound_url {
            conf.push_str(&format!(
                "\ngroup = sms-service\nkeyword = default\ncatch-all = yes\n\
                 max-messages = 0\nget-url = \"{url}\"\n"
            ));
        }
        let conf_path = dir.path().join("kannel.conf");
        std::fs::write(&conf_path, conf).expect("kannel.conf");
        let spawn = |program: &str, args: &[&str], out: &Path| {
            // Kannel logs (fakesmsc's "Got message" lines included) go to stderr.
            let log = std::fs::File::create(out).expect("log file");
            Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("{program}: {e} ({INSTALL_HINT})"))
        };
        let conf_arg = conf_path.to_str().expect("utf-8 path");
        let mut children = vec![spawn("bearerbox", &[conf_arg], &dir.path().join("bb.out"))];
        wait_for_port(smsc, "bearerbox");
        // The phone network: prints what it receives. It sends one message of its own at
        // start (it cannot send none and keep running); the interval keeps it to one.
        children.push(spawn(
            FAKESMSC,
            &[
                "-H",
                "127.0.0.1",
                "-r",
                &smsc.to_string(),
                "-i",
                "1000000",
                "-m",
                "-1",
                "100 200 text nop",
            ],
            &dir.path().join("network.out"),
        ));
        children.push(spawn("smsbox", &[conf_arg], &dir.path().join("sb.out")));
        wait_for_port(sendsms, "smsbox");
        wait_until_connected(admin);
        Self {
            children,
            dir,
            sendsms_url: format!("http://127.0.0.1:{sendsms}/cgi-bin/sendsms"),
            mo_port,
        }
    }

    /// A phone sends one message to the gateway: `coding` is fakesmsc's `text` (the
    /// bytes as given) or `ucs2` (`data` is then UTF-16BE, URL-encoded). Returns once
    /// the gateway has taken it.
    pub fn send_from_phone(&self, from: &str, to: &str, coding: &str, data: &str) {
        let log = self.dir.path().join(format!("phone-{}.out", free_port()));
        let mut phone = Command::new(FAKESMSC)
            .args(["-H", "127.0.0.1", "-r", &self.mo_port.to_string()])
            .args([
                "-i",
                "0.1",
                "-m",
                "1",
                &format!("{from} {to} {coding} {data}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("phone log"))
            .spawn()
            .expect("fakesmsc");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("sent message 1")
        {
            assert!(Instant::now() < deadline, "the phone could not send");
            std::thread::sleep(Duration::from_millis(50));
        }
        // fakesmsc stays connected after its last message; the gateway has it already.
        std::thread::sleep(Duration::from_millis(200));
        let _ = phone.kill();
        let _ = phone.wait();
    }

    fn network_log(&self) -> PathBuf {
        self.dir.path().join("network.out")
    }

    /// What the phone network has received from `from`, oldest first.
    pub fn delivered(&self, from: &str) -> Vec<Delivered> {
        let log = std::fs::read_to_string(self.network_log()).unwrap_or_default();
        log.lines()
            .filter_map(|l| {
                let inner = l.split_once("Got message ")?.1.split_once(": <")?.1;
                let inner = inner.strip_suffix('>')?;
                let mut parts = inner.splitn(4, ' ');
                let (f, t, kind, data) =
                    (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                if f != from {
                    return None;
                }
                let text = match kind {
                    "ucs-2" | "ucs2" => {
                        let bytes = url_decode(data);
                        let units: Vec<u16> = bytes
                            .chunks_exact(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .collect();
                        String::from_utf16_lossy(&units)
                    }
                    _ => data.to_owned(),
                };
                Some(Delivered {
                    from: f.to_owned(),
                    to: t.to_owned(),
                    text,
                })
            })
            .collect()
    }

    /// Waits until `n` messages from `from` have arrived (or panics after 15 s).
    pub fn wait_for(&self, from: &str, n: usize) -> Vec<Delivered> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.delivered(from);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        // smsbox, the network, then bearerbox.
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
