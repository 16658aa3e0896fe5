//! The CLI's side of the admin socket: send a command to the daemon, print its answer.

use std::{
    io::{BufReader, BufWriter, IsTerminal, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, bail};

use super::{FileEntry, Input, PROTOCOL, Request, Response, VERSION, read_line, socket_path};
use crate::{
    args::{Cli, Command, CustomerCommand, RulesCommand},
    home::Home,
    import::Source,
};

/// Runs `cli`'s command through the daemon that holds `home`, if one answers on its admin
/// socket. `Ok(None)`: no daemon answers (no socket, or one left by a daemon that died),
/// and the caller runs the command itself.
pub fn forward(home: &Home, cli: &Cli) -> anyhow::Result<Option<ExitCode>> {
    let socket = socket_path(home.root());
    let stream = match UnixStream::connect(&socket) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => bail!(
            "a kizuna daemon holds {}, and its admin socket {} refuses you ({e}); run the \
             command as the daemon's user",
            home.root().display(),
            socket.display()
        ),
    };
    let mut argv = std::env::args_os()
        .map(|a| {
            a.into_string()
                .map_err(|a| anyhow::anyhow!("argument {a:?} is not UTF-8"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The daemon can ask nobody: a confirmation is asked here, before anything is sent.
    if let Command::Customer(CustomerCommand::Erase(args)) = &cli.command
        && !args.yes
        && std::io::stdin().is_terminal()
    {
        let id = crate::commands::customer::parse_id(&args.id)?;
        crate::commands::customer::confirm_erase(&id)?;
        argv.push("--yes".into());
    }
    let rules = match &cli.rules {
        Some(dir) => Some(
            dir.canonicalize()
                .with_context(|| format!("--rules {}", dir.display()))?,
        ),
        None => None,
    };
    let (inputs, paths) = inputs(&cli.command)?;
    let request = request(argv, rules, inputs)?;
    // Socket errors become messages, not io::Errors: a broken pipe here is the daemon
    // going away, not the reader of our stdout closing it (which `main` treats as quiet).
    let lost = |e: std::io::Error| {
        anyhow::anyhow!(
            "the daemon on {} stopped before it answered ({e}): the command was carried out \
             whole or not at all (each is atomic); look before running it again",
            home.root().display()
        )
    };
    let (response, mut answer) = talk(&stream, &request, &paths).map_err(lost)?;
    for file in &response.written {
        let mut to = std::fs::File::create(&file.path)
            .with_context(|| format!("writing {}", file.path.display()))?;
        super::copy_exact(&mut answer, &mut to, file.len).map_err(lost)?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(response.stdout.as_bytes())?;
    stdout.flush()?;
    std::io::stderr().write_all(response.stderr.as_bytes())?;
    Ok(Some(ExitCode::from(response.exit)))
}

/// One command, without input files, through the daemon on `home`: its answer. For
/// measuring the exchange (`kizuna bench http --probe-show`).
pub fn exchange(home: &Path, argv: &[&str]) -> anyhow::Result<Response> {
    let stream = UnixStream::connect(socket_path(home))
        .with_context(|| format!("no daemon answers on {}", socket_path(home).display()))?;
    let argv = argv.iter().map(|a| (*a).to_owned()).collect();
    let (response, _) = talk(&stream, &request(argv, None, Vec::new())?, &Vec::new())?;
    Ok(response)
}

/// A request from this client.
fn request(
    argv: Vec<String>,
    rules: Option<PathBuf>,
    inputs: Vec<Input>,
) -> anyhow::Result<Request> {
    Ok(Request {
        protocol: PROTOCOL,
        version: VERSION.into(),
        argv,
        rules,
        inputs,
        cwd: std::env::current_dir().context("the working directory")?,
    })
}

/// Sends `request` and its files, then reads the answer; the reader stays positioned at
/// the bytes of the files the answer lists.
fn talk<'s>(
    stream: &'s UnixStream,
    request: &Request,
    files: &Sent,
) -> std::io::Result<(Response, BufReader<&'s UnixStream>)> {
    let sent = send(stream, request, files);
    // Nothing more to say: a daemon still waiting for bytes that never came sees the end.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = BufReader::new(stream);
    // A daemon that refuses a request answers before it has read the files: its answer
    // counts, even when sending the rest failed.
    match read_line(&mut answer) {
        Ok(Some(response)) => Ok((response, answer)),
        Ok(None) => Err(sent.err().unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed")
        })),
        Err(e) => Err(sent.err().unwrap_or(e)),
    }
}

/// Sends the request and the bytes of its files.
fn send(stream: &UnixStream, request: &Request, files: &Sent) -> std::io::Result<()> {
    let mut out = BufWriter::new(stream);
    super::write_line(&mut out, request)?;
    for (path, len) in files {
        let mut file = std::fs::File::open(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("{}: cannot open: {e}", path.display()))
        })?;
        super::copy_exact(&mut file, &mut out, *len)?;
    }
    out.flush()
}

/// Files to send: path and size, in the order their bytes follow the request.
type Sent = Vec<(PathBuf, u64)>;

/// The files a command reads, checked as the command checks them offline (so a missing
/// file gets the same error), and the files whose bytes follow the request.
fn inputs(command: &Command) -> anyhow::Result<(Vec<Input>, Sent)> {
    let mut inputs = Vec::new();
    let mut paths = Vec::new();
    match command {
        Command::Import(args) => {
            for given in &args.files {
                let source = Source::new(given)?;
                inputs.push(Input {
                    given: given.clone(),
                    files: vec![FileEntry {
                        path: PathBuf::new(),
                        len: source.bytes,
                    }],
                });
                paths.push((given.clone(), source.bytes));
            }
        }
        Command::Rules(RulesCommand::Replay(args)) => {
            if let Some(dir) = &args.scripts {
                crate::commands::replay::check_candidate_dir(dir, dir)?;
                let mut files = Vec::new();
                walk(dir, Path::new(""), &mut files)?;
                inputs.push(Input {
                    given: dir.clone(),
                    files: files
                        .iter()
                        .map(|(rel, len)| FileEntry {
                            path: rel.clone(),
                            len: *len,
                        })
                        .collect(),
                });
                paths.extend(files.into_iter().map(|(rel, len)| (dir.join(rel), len)));
            }
        }
        _ => {}
    }
    Ok((inputs, paths))
}

/// Every regular file below `dir/rel`, with its size.
fn walk(dir: &Path, rel: &Path, files: &mut Vec<(PathBuf, u64)>) -> anyhow::Result<()> {
    let here = dir.join(rel);
    let mut entries = std::fs::read_dir(&here)
        .with_context(|| format!("reading {}", here.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", here.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        // Followed, as reading the directory offline follows them.
        let meta = std::fs::metadata(entry.path())
            .with_context(|| format!("reading {}", entry.path().display()))?;
        let rel = rel.join(entry.file_name());
        if meta.is_dir() {
            walk(dir, &rel, files)?;
        } else if meta.is_file() {
            if meta.len() > super::MAX_INPUT {
                bail!("{}: larger than a command may send", entry.path().display());
            }
            files.push((rel, meta.len()));
        }
    }
    Ok(())
}
