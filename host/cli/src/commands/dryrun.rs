//! `rampart dry-run`: a policy over a whole fleet, before a rollout.

use super::policy::{EngineArgs, load_policy, read_facts};
use crate::exit::{BAD_INPUT, coded};
use rampart_facts::{Release, Rollout, Timestamp};
use rampart_fleet::csv_format::CsvDevices;
use rampart_fleet::dryrun::{self, Decision, Options, Sink, Summary};
use rampart_fleet::read::{JsonBlocks, RowError, Source};
use rampart_fleet::report;
use std::collections::BTreeMap;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Evaluate a policy over a whole fleet before a rollout: who gets the release, and why not
///
/// Asks the policy's eligibility question for every device of a fleet, as
/// the gateways would, and summarises the answers.
///
/// Every device is evaluated with the same engine, limits and fail-closed
/// rules as a gateway: a policy failure counts as a deny with its cause and
/// is reported apart. Devices are asked in batches on every core; a sample
/// (one in --verify-one-in) is asked again in a fresh instance, as a gateway
/// asks, and a policy that answers differently (it keeps state between
/// devices) is reported and the whole fleet evaluated again one device per
/// fresh instance.
///
/// The fleet is JSON Lines, one device per line (the JSON of `policy eval
/// --device`; `rampart fleet synth` makes one), or CSV with a header row of
/// field paths (`hardware.model`, `labels.site`; see docs/inputs.md). It is
/// read as a stream: memory does not grow with the fleet.
///
/// --project answers "when?": from the rollout's start, hour by hour, how
/// many devices become eligible. Each device is asked at hour 0, then again
/// only at the hour its deferral ends, so a week costs a few questions per
/// device, not 169.
///
/// Exit status: 0 when the policy answered every device; 4 when it failed
/// for some (a trap, out of fuel, a timeout, out of memory, invalid
/// output): those devices are still in the summary and in --out, as the
/// fail-closed denies a gateway would act on, their cause under "policy
/// failures"; 2 for bad input (the message names the file, line and field;
/// --skip-invalid counts bad rows instead), for a device id listed twice
/// (--allow-duplicate-ids counts them instead), and for a fleet with no
/// devices: empty, blank lines, a CSV header alone, or every row invalid (a
/// shard with none, only if the fleet had no rows for other shards
/// either); 3 when the policy is refused at load; 8 when the host could not
/// ask the policy (no free instance in the engine's pool).
///
/// Example:
///   rampart fleet synth --devices 100000 --out fleet.jsonl
///   rampart dry-run --policy staged-rollout.wasm --release examples/release.json \
///       --fleet fleet.jsonl --rollout examples/rollout.json --out decisions.jsonl \
///       --report report.html
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// The policy component (.wasm).
    #[arg(long, value_name = "POLICY.wasm", required = true)]
    policy: Option<PathBuf>,
    /// Release facts (JSON).
    #[arg(long, value_name = "RELEASE.json", required = true)]
    release: Option<PathBuf>,
    /// The fleet (JSON Lines, or CSV when the name ends in `.csv`; `-` for
    /// standard input). A fleet that is not a regular file (`-`, a pipe, a
    /// FIFO) is read once: every device is then asked in a fresh instance.
    #[arg(long, value_name = "FLEET.jsonl", required = true)]
    fleet: Option<PathBuf>,
    /// The fleet's format, when its name does not tell.
    #[arg(long, value_name = "FORMAT")]
    fleet_format: Option<FleetFormat>,
    /// Rollout context (JSON). Without it, an ad-hoc rollout starting at --now.
    #[arg(long, value_name = "ROLLOUT.json")]
    rollout: Option<PathBuf>,
    /// The time of the question (RFC 3339). Defaults to the rollout's `now`,
    /// else the host clock.
    #[arg(long, value_name = "RFC3339", value_parser = Timestamp::parse)]
    now: Option<Timestamp>,
    /// The policy in force: every device is asked both, and the summary
    /// groups the devices whose answer changes by old → new decision and
    /// reason (`--out` lines carry `was` for them).
    #[arg(long, value_name = "OLD_POLICY.wasm")]
    baseline: Option<PathBuf>,
    /// Write one decision per device (JSON Lines: id, decision, reasons,
    /// until, fuel when asked alone, policy_failed), whole or not at all: a
    /// failed or interrupted run leaves the file as it was. `-` is refused
    /// (standard output carries the summary).
    #[arg(long, value_name = "DECISIONS.jsonl")]
    out: Option<PathBuf>,
    /// Write the summary as a self-contained HTML page with charts
    /// (decisions, reasons, breakdowns, the wave projection, the diff). Turns
    /// on --project for a week unless --project says otherwise. `-` is
    /// refused (standard output carries the summary).
    #[arg(long, value_name = "REPORT.html")]
    report: Option<PathBuf>,
    /// Project the waves for HOURS hours from the rollout's start (default
    /// 168, a week; at most 1440): when each device first becomes eligible,
    /// with today's facts. `--out` lines carry `eligible_at`.
    #[arg(long, value_name = "HOURS", num_args = 0..=1, default_missing_value = "168",
          value_parser = clap::value_parser!(u32).range(1..=dryrun::MAX_PROJECT_HOURS as i64))]
    project: Option<u32>,
    /// Count and report rows that are not valid devices instead of stopping.
    #[arg(long)]
    skip_invalid: bool,
    /// Count devices whose id an earlier row already had (reported as
    /// duplicate_ids, with the first one's lines) instead of refusing the
    /// fleet: a duplicate id means the export is wrong, so without this
    /// flag it stops the run (exit 2).
    #[arg(long)]
    allow_duplicate_ids: bool,
    /// Evaluate only shard I of N (0 ≤ I < N), to split a fleet over
    /// machines: the devices whose id falls in it (by its cohort seed), so
    /// every row of one id is in one shard and duplicate ids are found as in
    /// a whole run; a row with no id to read, by its line (I+1, I+1+N, …).
    /// Merge the shards' --json summaries with `rampart dry-run merge`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Worker threads (default: every core; 1 to 128). The engine's instance
    /// pool is sized for them: one instance each, two with --project.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=dryrun::MAX_THREADS as u64))]
    threads: Option<usize>,
    /// Re-ask one device in this many (by cohort seed) in a fresh instance
    /// (1 re-asks every device; 0 is refused).
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    verify_one_in: u64,
    /// Ask every device in its own fresh instance (slower; what a gateway does).
    #[arg(long)]
    isolated: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Fleet file formats.
#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum FleetFormat {
    /// JSON Lines: one device per line.
    Jsonl,
    /// CSV with a header row of field paths.
    Csv,
}

#[derive(clap::Subcommand)]
enum Sub {
    Merge(MergeArgs),
}

/// Merge the shards' summaries of one dry-run into the whole fleet's
///
/// Combines the `--json` summaries of the shards of one dry-run (`--shard
/// I/N`, same policy, release and time) into the summary of the whole fleet,
/// identical to a single run's. Each shard of a fleet file must be given
/// once. Exit status as the dry-run's: 4 when the policy failed for some
/// device of a shard.
///
///   rampart dry-run merge shard-0.json shard-1.json shard-2.json --json
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
struct MergeArgs {
    /// The shards' summaries (`rampart dry-run … --shard I/N --json`).
    #[arg(required = true, value_name = "SUMMARY.json")]
    summaries: Vec<PathBuf>,
    /// Print the merged summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write the merged summary as a self-contained HTML page (`-` is
    /// refused: standard output carries the summary).
    #[arg(long, value_name = "REPORT.html")]
    report: Option<PathBuf>,
}

fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    if let Some(report) = &args.report {
        no_stdout(&[("--report", report)])?;
        let inputs: Vec<_> = args.summaries.iter().map(|p| ("a summary", p.as_path())).collect();
        crate::outfile::distinct(&[("--report", report)], &inputs)?;
    }
    // What must be the same in every shard of one dry-run.
    let same = |v: &serde_json::Value| {
        let (start, hours) = (&v["projection"]["start"], v["projection"]["newly_eligible"].as_array().map(Vec::len));
        [
            ("policy", v["policy"].clone()),
            ("baseline", v["baseline"].clone()),
            ("release", v["release"].clone()),
            ("now", v["now"].clone()),
            ("projection start", start.clone()),
            ("projection hours", hours.into()),
        ]
    };
    let mut merged: Option<(Summary, serde_json::Value)> = None;
    let mut fleets = std::collections::BTreeSet::new();
    // Per fleet, by its content (the SHA-256 of its bytes; the path as
    // given only for summaries without one): its name, and its parts (the
    // shard, if any, and the summary's path).
    let mut parts: BTreeMap<String, (String, Vec<Part>)> = BTreeMap::new();
    for path in &args.summaries {
        let bad = |what: String| coded(BAD_INPUT, anyhow::anyhow!("{}: {what}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let s: Summary = serde_json::from_value(v.clone()).map_err(|e| bad(format!("not a dry-run summary: {e}")))?;
        // A field no dry-run writes is a typo or another tool's output,
        // never silently ignored.
        if let Some(unknown) = v.as_object().and_then(|o| o.keys().find(|k| !summary_keys().contains(k.as_str()))) {
            return Err(bad(format!("not a dry-run summary: unknown field `{unknown}`")));
        }
        let shard = v["shard"]["index"].as_u64().zip(v["shard"]["count"].as_u64()).filter(|(i, n)| i < n);
        let name = v["fleet"].as_str().unwrap_or("-").to_string();
        let key = match v["fleet_sha256"].as_str() {
            Some(digest) => Some(digest.to_string()),
            None => (name != "-").then(|| format!("path:{name}")),
        };
        fleets.insert(key.clone());
        if let Some(key) = key {
            parts.entry(key).or_insert_with(|| (name, Vec::new())).1.push((shard, path));
        }
        match &mut merged {
            None => merged = Some((s, v)),
            Some((m, first)) => {
                if let Some(((field, want), (_, got))) = same(first).into_iter().zip(same(&v)).find(|(a, b)| a.1 != b.1)
                {
                    return Err(bad(format!(
                        "another dry-run: its {field} is {got}, {}'s is {want}",
                        args.summaries[0].display()
                    )));
                }
                m.merge(&s);
            }
        }
    }
    for (fleet, parts) in parts.values() {
        check_parts(fleet, parts)?;
    }
    let (s, first) = merged.expect("clap requires one summary at least");
    if let Some(path) = &args.report {
        let text = |k: &str| first[k].as_str().unwrap_or_default().to_string();
        let about = report::About {
            policy: text("policy"),
            baseline: first["baseline"].as_str().map(String::from),
            release: text("release"),
            now: text("now"),
            fleet: format!("{} shards", args.summaries.len()),
        };
        write_report(path, &s, &about)?;
    }
    if args.json {
        let mut v = summary_json_of(&s);
        for k in ["policy", "baseline", "release", "now"] {
            v[k] = first[k].clone();
        }
        // The fleet, when every summary was of the same one.
        let one = fleets.len() == 1 && fleets.first().is_some_and(Option::is_some);
        v["fleet"] = if one { first["fleet"].clone() } else { serde_json::Value::Null };
        v["fleet_sha256"] = if one { first["fleet_sha256"].clone() } else { serde_json::Value::Null };
        v["shard"] = serde_json::Value::Null;
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let release = first["release"].as_str().unwrap_or_default();
        let now = first["now"].as_str().unwrap_or_default();
        print_summary(&s, release, now);
    }
    Ok(answered(!s.policy_failures.is_empty()))
}

/// `-` is no output file here: standard output carries the summary, and a
/// file named `-` is what nobody means.
fn no_stdout(outputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    match outputs.iter().find(|(_, p)| *p == Path::new("-")) {
        Some((flag, _)) => Err(coded(
            BAD_INPUT,
            anyhow::anyhow!("{flag} -: standard output carries the summary; give {flag} a file name"),
        )),
        None => Ok(()),
    }
}

/// The flags given a path, with it.
fn given<'a>(flags: &[(&'a str, &'a Option<PathBuf>)]) -> Vec<(&'a str, &'a Path)> {
    flags.iter().filter_map(|(flag, p)| Some((*flag, p.as_deref()?))).collect()
}

/// A summary being merged: its shard (`None` for a whole run) and its path.
type Part<'a> = (Option<(u64, u64)>, &'a Path);

/// The summaries of one fleet file must cover it once: one whole run, or
/// each shard of one split once.
fn check_parts(fleet: &str, parts: &[Part]) -> anyhow::Result<()> {
    let bad = |what: String| Err(coded(BAD_INPUT, anyhow::anyhow!("{what}")));
    let name = |p: &Path| p.display().to_string();
    if parts.len() > 1
        && let Some((_, whole)) = parts.iter().find(|(shard, _)| shard.is_none())
    {
        return bad(format!("{}: the whole of {fleet}, which other summaries also cover", name(whole)));
    }
    let Some((Some((_, count)), first)) = parts.first().copied() else { return Ok(()) };
    let mut seen = vec![false; count as usize];
    for &(shard, path) in parts {
        let (index, n) = shard.expect("no whole run among several parts");
        if n != count {
            return bad(format!("{}: shard {index}/{n} of {fleet}, split otherwise in {}", name(path), name(first)));
        }
        if std::mem::replace(&mut seen[index as usize], true) {
            return bad(format!("{}: shard {index}/{n} of {fleet} is given twice", name(path)));
        }
    }
    let missing: Vec<String> =
        seen.iter().enumerate().filter(|(_, s)| !**s).map(|(i, _)| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        return bad(format!(
            "{fleet}: shard {} missing: a merge needs every shard of a split once",
            missing.join(", ")
        ));
    }
    Ok(())
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let (i, n): (u64, u64) = (i.parse().map_err(|_| "I is not a number")?, n.parse().map_err(|_| "N is not a number")?);
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 ≤ I < N"));
    }
    Ok((i, n))
}

/// `--out`: decisions as JSON Lines (the temporary file of
/// [`crate::outfile::replace`], or a pipe), rewound when the run starts over.
struct OutFile<'a, 'f> {
    file: &'a mut BufWriter<&'f std::fs::File>,
}

impl Sink for OutFile<'_, '_> {
    fn decision(&mut self, d: &Decision) -> std::io::Result<()> {
        serde_json::to_writer(&mut *self.file, d)?;
        self.file.write_all(b"\n")
    }
    fn restart(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let mut f: &std::fs::File = self.file.get_ref();
        if !f.metadata()?.is_file() {
            return Err(std::io::Error::other(
                "the run must start over isolated, and decisions already written to a pipe cannot be taken back: \
                 give --out a regular file, or --isolated",
            ));
        }
        f.set_len(0)?;
        f.rewind()?;
        Ok(())
    }
}

/// Write the HTML report beside its target and rename it into place.
fn write_report(path: &Path, s: &Summary, about: &report::About) -> anyhow::Result<()> {
    crate::outfile::write_out(path, report::html(s, about).as_bytes())
}

/// A fleet read through, every byte hashed: at the end of the stream, its
/// SHA-256 (`sha256:HEX`) goes to `digest`. What identifies a fleet when
/// shards' summaries are merged, whatever path it was read under.
struct Digesting {
    inner: Box<dyn std::io::Read + Send>,
    hash: Option<sha2::Sha256>,
    /// Bytes read so far, for the progress bar.
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    digest: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl std::io::Read for Digesting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        if n > 0 {
            if let Some(h) = &mut self.hash {
                h.update(&buf[..n]);
            }
        } else if !buf.is_empty()
            && let Some(h) = self.hash.take()
        {
            *self.digest.lock().expect("never poisoned") = Some(format!("sha256:{}", hex::encode(h.finalize())));
        }
        Ok(n)
    }
}

fn read_fleet(reader: Box<dyn std::io::Read + Send>, format: FleetFormat, origin: &str) -> Box<dyn Source> {
    match format {
        FleetFormat::Jsonl => Box::new(JsonBlocks::new(reader, origin)),
        FleetFormat::Csv => Box::new(CsvDevices::new(std::io::BufReader::with_capacity(1 << 20, reader), origin)),
    }
}

/// Why a dry-run stopped, as an error naming the fleet where the message
/// does not already.
fn run_failed(origin: &str, e: dryrun::DryRunError) -> anyhow::Error {
    match e {
        e @ dryrun::DryRunError::Reread { .. } => coded(BAD_INPUT, anyhow::anyhow!("{origin}: {e}")),
        e @ dryrun::DryRunError::Host(_) => coded(crate::exit::HOST_FAILED, e),
        e => coded(BAD_INPUT, e),
    }
}

/// The dry-run's progress on a terminal: for a file of known size, a bar by
/// bytes read with percent and ETA; else the devices so far. Devices and
/// their rate in the message, in whole numbers.
fn fleet_bar(size: Option<u64>) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(size, indicatif::ProgressDrawTarget::stderr());
    let template = match size {
        Some(_) => "{msg} [{bar:30}] {percent:>3}% of {binary_total_bytes}, eta {eta}",
        None => "{msg}, {elapsed}",
    };
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
    bar
}

/// `10,637 devices, 10,637/s`.
fn progress_message(devices: u64, elapsed: std::time::Duration) -> String {
    let rate = devices as f64 / elapsed.as_secs_f64().max(1e-3);
    format!("{} devices, {}/s", report::group(devices), report::group(rate.round() as u64))
}

/// Whether the fleet can be read twice: a regular file (symbolic links
/// followed, so `/dev/stdin` redirected from a file is one).
fn rereadable(path: &Path) -> bool {
    path != Path::new("-") && std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

fn open_fleet(path: &Path) -> anyhow::Result<Box<dyn std::io::Read + Send>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin()));
    }
    let bad = |e: String| coded(BAD_INPUT, anyhow::anyhow!("{}: {e}", path.display()));
    let f = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    // Opening a directory succeeds; reading it fails as "line 1".
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(bad("is a directory; give a fleet file (JSON Lines or CSV)".into()));
    }
    Ok(Box::new(f))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Sub::Merge(m)) = args.command {
        return merge(m);
    }
    let required = |p: &Option<PathBuf>| p.clone().expect("clap requires it without a subcommand");
    let (policy_path, release_path, fleet) = (required(&args.policy), required(&args.release), required(&args.fleet));
    let outputs = [("--out", &args.out), ("--report", &args.report)];
    no_stdout(&given(&outputs))?;
    let inputs = [
        ("--policy", &args.policy),
        ("--release", &args.release),
        ("--fleet", &args.fleet),
        ("--rollout", &args.rollout),
        ("--baseline", &args.baseline),
    ];
    crate::outfile::distinct(&given(&outputs), &given(&inputs))?;
    let release: Release = read_facts(&release_path)?;
    let rollout: Option<Rollout> = args.rollout.as_deref().map(read_facts).transpose()?;
    let now = args.now.or_else(|| rollout.as_ref().and_then(|r| r.now)).unwrap_or_else(Timestamp::now);
    let rollout = rollout.unwrap_or_else(|| Rollout::adhoc(now));
    // Only a regular file can be read twice: standard input, a pipe
    // (`/dev/stdin`, `<(…)`) or a FIFO gives no second, isolated pass, so
    // every device is asked in a fresh instance from the start.
    let read_once = !rereadable(&fleet);
    let origin = fleet.display().to_string();
    let project = args.project.or(args.report.is_some().then_some(168));
    let opts = Options {
        threads: args.threads.unwrap_or_else(|| Options::default().threads),
        verify_one_in: args.verify_one_in,
        skip_invalid: args.skip_invalid,
        isolated: args.isolated || read_once,
        shard: args.shard,
        project_hours: project,
        ..Options::default()
    };
    // A slot in the pool for every instance the run has alive at once: a
    // decision never waits for, or fails for want of, a slot.
    let concurrency = u32::try_from(opts.instances_at_once()).expect("at most 2 × MAX_THREADS");
    let engine = args.engine.engine_with(rampart_engine::Allocation::Pooling { concurrency })?;
    let policy = load_policy(&engine, &args.engine, &policy_path)?;
    let baseline = args.baseline.as_deref().map(|p| load_policy(&engine, &args.engine, p)).transpose()?;
    let policies = dryrun::Policies { candidate: &policy, baseline: baseline.as_ref() };
    let ctx = rampart_engine::Context::new(&rollout, now, &release);
    // A regular file's size gives the bar its end: percent and ETA by bytes
    // read; a pipe has none.
    let size = if read_once { None } else { std::fs::metadata(&fleet).ok().map(|m| m.len()) };
    let bar = fleet_bar(size);
    let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let format = args.fleet_format.unwrap_or(if fleet.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        FleetFormat::Csv
    } else {
        FleetFormat::Jsonl
    });
    // Opened once here, to fail early naming the file, and read by the
    // first pass: a FIFO is opened once only. Opened again for an isolated
    // pass (a regular file): a fleet gone since is an I/O error of its
    // first row, which stops the run.
    let first = std::sync::Mutex::new(Some(open_fleet(&fleet)?));
    // The SHA-256 of the fleet's bytes, once a pass has read them all.
    let digest = std::sync::Arc::new(std::sync::Mutex::new(None));
    let open = || -> Box<dyn Source> {
        let reader = match first.lock().expect("never poisoned").take() {
            Some(r) => Ok(r),
            None => open_fleet(&fleet),
        };
        match reader {
            Ok(r) => {
                let hash = Some(<sha2::Sha256 as sha2::Digest>::new());
                // A new pass starts the bar over.
                bytes.store(0, std::sync::atomic::Ordering::Relaxed);
                let reader = Digesting { inner: r, hash, bytes: bytes.clone(), digest: digest.clone() };
                read_fleet(Box::new(reader), format, &origin)
            }
            Err(e) => {
                let e = std::io::Error::other(e.root_cause().to_string());
                Box::new(std::iter::once(Err(RowError::Io { origin: origin.clone(), line: 1, source: e })))
            }
        }
    };
    let started = std::time::Instant::now();
    let progress = |n| {
        bar.set_message(progress_message(n, started.elapsed()));
        bar.set_position(if size.is_some() { bytes.load(std::sync::atomic::Ordering::Relaxed) } else { n });
    };
    let evaluate = |sink: &mut dyn Sink| -> anyhow::Result<Summary> {
        let s = dryrun::run(policies, &ctx, open, &opts, sink, &progress).map_err(|e| run_failed(&origin, e))?;
        // An empty export is a broken export, not a fleet that needs nothing.
        // A shard may have no devices of a fleet that has some rows (its
        // rows by device id went to other shards).
        if s.devices == 0 && s.other_shards_rows == 0 {
            let shard = args.shard.map(|(i, n)| format!(" in shard {i}/{n}")).unwrap_or_default();
            let why = match s.invalid_rows {
                0 => String::new(),
                n => format!(" (all {n} rows are invalid; the first: {})", s.invalid_examples[0]),
            };
            return Err(coded(BAD_INPUT, anyhow::anyhow!("{origin}: no devices{shard}{why}")));
        }
        if s.duplicate_ids > 0 && !args.allow_duplicate_ids {
            let first = s.duplicate_example.as_deref().unwrap_or_default();
            return Err(coded(
                BAD_INPUT,
                anyhow::anyhow!(
                    "{origin}: {} device(s) listed again under an id an earlier row has, the first {first}: \
                     the export lists a device twice (--allow-duplicate-ids counts them anyway)",
                    s.duplicate_ids
                ),
            ));
        }
        Ok(s)
    };
    // The decisions file is written whole or not at all: a bad row, an
    // error or a signal leaves what was there before.
    let summary = match &args.out {
        Some(path) => crate::outfile::replace(path, 0o644, |file| evaluate(&mut OutFile { file }))?,
        None => evaluate(&mut dryrun::Discard)?,
    };
    let failed = !summary.policy_failures.is_empty();
    bar.finish_and_clear();
    if let Some(path) = &args.report {
        let about = report::About {
            policy: policy.digest().to_string(),
            baseline: baseline.as_ref().map(|b| b.digest().to_string()),
            release: release.id.clone(),
            now: now.to_string(),
            fleet: origin.clone(),
        };
        write_report(path, &summary, &about)?;
    }
    if args.json {
        let mut v = summary_json_of(&summary);
        v["policy"] = policy.digest().to_string().into();
        v["baseline"] = baseline.as_ref().map(|b| b.digest().to_string()).into();
        v["release"] = release.id.clone().into();
        v["now"] = serde_json::to_value(now)?;
        v["fleet"] = origin.clone().into();
        v["fleet_sha256"] = digest.lock().expect("never poisoned").clone().into();
        v["shard"] = args.shard.map(|(index, count)| serde_json::json!({ "index": index, "count": count })).into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_summary(&summary, &release.id, &now.to_string());
    }
    Ok(answered(failed))
}

/// 0 when the policy answered every device, 4 when it failed for some
/// (their fail-closed denies are in the summary all the same).
fn answered(policy_failed: bool) -> ExitCode {
    if policy_failed { ExitCode::from(crate::exit::POLICY_FAILED) } else { ExitCode::SUCCESS }
}

/// Every top-level field of a `--json` summary: the summary's own (each
/// optional one present), and those the command adds.
fn summary_keys() -> std::collections::BTreeSet<String> {
    let text = Some(String::new());
    let full = Summary {
        stateful_example: text.clone(),
        tight_limits_example: text.clone(),
        duplicate_example: text,
        diff: Some(dryrun::Diff::default()),
        projection: Some(dryrun::Projection {
            start: Timestamp(0),
            newly_eligible: Vec::new(),
            not_eligible: BTreeMap::new(),
            evaluations: 0,
            fallback_batches: 0,
        }),
        ..Summary::default()
    };
    let v = summary_json_of(&full);
    let own = v.as_object().expect("a summary is an object").keys().cloned();
    let added = ["allow", "deny", "defer", "policy", "baseline", "release", "now", "fleet", "fleet_sha256", "shard"];
    own.chain(added.map(String::from)).collect()
}

/// The JSON form of a summary: its fields, a top-level count per decision
/// name and the ten top reasons.
fn summary_json_of(s: &Summary) -> serde_json::Value {
    let mut v = serde_json::to_value(s).expect("a summary serializes");
    for (name, count) in &s.decisions {
        v[name.as_str()] = (*count).into();
    }
    v["top_reasons"] =
        s.top_reasons(10).into_iter().map(|(c, n)| serde_json::json!({"code": c, "devices": n})).collect();
    v
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 { "-".into() } else { format!("{:.1} %", 100.0 * n as f64 / of as f64) }
}

fn print_summary(s: &Summary, release: &str, now: &str) {
    println!("release {release} at {now}: {} devices ({} evaluation)", s.devices, s.mode);
    for (name, n) in &s.decisions {
        println!("  {name:<8} {n:>10}  {}", pct(*n, s.devices));
    }
    if s.stateful {
        println!(
            "the policy is stateful: it answered differently in a batch than alone ({}); every device was asked again in a fresh instance",
            s.stateful_example.as_deref().unwrap_or_default()
        );
    }
    if s.tight_limits {
        println!(
            "a device failed alone that a batch answered ({}): the per-decision limits leave it too little room for batches to predict a gateway; every device was asked again in a fresh instance",
            s.tight_limits_example.as_deref().unwrap_or_default()
        );
    }
    if !s.policy_failures.is_empty() {
        println!("policy failures (counted as deny):");
        for (cause, n) in &s.policy_failures {
            println!("  {cause:<30} {n:>10}");
        }
    }
    if s.duplicate_ids > 0 {
        println!(
            "duplicate device ids: {} (the first: {})",
            s.duplicate_ids,
            s.duplicate_example.as_deref().unwrap_or_default()
        );
    }
    if s.invalid_rows > 0 {
        println!("invalid rows skipped: {}", s.invalid_rows);
        for e in &s.invalid_examples {
            println!("  {e}");
        }
    }
    if let Some(p) = &s.projection {
        print_projection(p, s.devices);
    }
    if let Some(diff) = &s.diff {
        println!("against the baseline policy: {} devices change ({})", diff.changed, pct(diff.changed, s.devices));
        let mut t: Vec<_> = diff.transitions.iter().collect();
        t.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (transition, n) in t.into_iter().take(15) {
            println!("  {transition:<60} {n:>10}");
        }
    }
    println!("top reasons:");
    for (code, n) in s.top_reasons(10) {
        println!("  {code:<30} {n:>10}  {}", pct(n, s.devices));
    }
    for (title, map) in [("hardware model", &s.by_model), ("region", &s.by_region), ("firmware", &s.by_firmware)] {
        println!("{:<22} {:>10} {:>10} {:>10}", format!("by {title}:"), "allow", "deny", "defer");
        for (key, counts) in map {
            let get = |d: &str| counts.get(d).copied().unwrap_or(0);
            println!("  {key:<20} {:>10} {:>10} {:>10}", get("allow"), get("deny"), get("defer"));
        }
    }
}

fn print_projection(p: &dryrun::Projection, devices: u64) {
    let cum = p.cumulative();
    let hours = cum.len().saturating_sub(1);
    println!("wave projection from {} ({hours} hours, {} questions):", p.start, p.evaluations);
    let joins: Vec<usize> = (0..p.newly_eligible.len()).filter(|&i| p.newly_eligible[i] > 0).collect();
    // At most 24 lines: every hour devices join when few do, else evenly spaced ones and the last.
    let every = joins.len().div_ceil(24).max(1);
    for (k, &i) in joins.iter().enumerate() {
        if k % every == 0 || k + 1 == joins.len() {
            println!("  hour {i:>4}  {:>10} eligible  {}", cum[i], pct(cum[i], devices));
        }
    }
    match p.last_growth_hour() {
        Some(h) => println!("  reaches {} devices ({}) at hour {h}", cum[h], pct(cum[h], devices)),
        None => println!("  no device becomes eligible"),
    }
    if p.never() > 0 {
        println!("  never eligible within {hours} hours: {}", p.never());
        let mut v: Vec<_> = p.not_eligible.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (label, n) in v.into_iter().take(8) {
            println!("    {label:<40} {n:>10}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn progress_is_told_in_whole_devices() {
        let m = super::progress_message(10_636, std::time::Duration::from_millis(999_900));
        assert_eq!(m, "10,636 devices, 11/s");
        let m = super::progress_message(1_000_000, std::time::Duration::from_secs_f64(1.4));
        assert_eq!(m, "1,000,000 devices, 714,286/s");
    }
}
