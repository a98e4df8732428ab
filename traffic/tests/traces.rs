//! Trace replay: the four shipped traces, rate scaling, windows, bad rows, the writer.

use std::path::{Path, PathBuf};

use servesim_core::{RngStreams, SimDuration, SimTime};
use servesim_traffic::trace::read_sizes;
use servesim_traffic::{
    MooncakeWriter, Request, StatsBuilder, TraceFormat, TraceReader, TrafficError, Workload,
    WorkloadConfig,
};

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/traces")
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("servesim-traffic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Replays one trace stream (given as the YAML body of `trace:`) to the end.
fn replay(trace_yaml: &str) -> Result<Vec<Request>, TrafficError> {
    replay_seeded(trace_yaml, 1)
}

/// [`replay`] with run seed `seed`.
fn replay_seeded(trace_yaml: &str, seed: u64) -> Result<Vec<Request>, TrafficError> {
    let cfg = WorkloadConfig::from_yaml_str(
        &format!("streams: [{{name: t, trace: {trace_yaml}}}]"),
        "test",
    )?;
    let spec = cfg.validate("traffic", &traces_dir())?;
    let mut w = Workload::new(&spec, &RngStreams::new(seed))?;
    let mut out = Vec::new();
    while let Some(r) = w.next_request()? {
        out.push(r);
    }
    Ok(out)
}

fn span_s(rs: &[Request]) -> f64 {
    (rs.last().unwrap().arrival - rs[0].arrival).as_secs_f64()
}

#[test]
fn the_four_shipped_traces_replay() {
    let cases = [
        ("azure_llm_2023_conv.csv.gz", "azure", 19_366, 3_501.721_937),
        ("azure_llm_2023_code.csv.gz", "azure", 8_819, 3_435.948_056),
        (
            "mooncake_conversation.jsonl.gz",
            "mooncake",
            12_031,
            3536.999,
        ),
        ("mooncake_synthetic.jsonl.gz", "mooncake", 3_993, 1022.025),
    ];
    for (file, format, count, span) in cases {
        let rs = replay(&format!("{{path: {file}, format: {format}}}")).unwrap();
        assert_eq!(rs.len(), count, "{file}");
        assert!(
            (span_s(&rs) - span).abs() < 1e-6,
            "{file}: span {}",
            span_s(&rs)
        );
        assert_eq!(
            rs[0].arrival,
            SimTime::ZERO,
            "{file}: starts at the stream start"
        );
        assert!(rs.windows(2).all(|w| w[0].arrival <= w[1].arrival));
        for r in &rs {
            assert_eq!(
                r.prefix_blocks.len() as u32,
                r.input_tokens.div_ceil(512),
                "{file}"
            );
        }
    }
}

#[test]
fn azure_conversation_stats() {
    let rs = replay("{path: azure_llm_2023_conv.csv.gz, format: azure}").unwrap();
    let mut stats = StatsBuilder::new(&["t".to_string()]);
    rs.iter().for_each(|r| stats.record(r));
    let s = stats.finish().total;
    assert_eq!(s.count, 19_366);
    assert!((s.span_s - 3501.7).abs() < 0.1);
    assert!((s.rate_per_s.unwrap() - 5.53).abs() < 0.01);
    // First row: 374 prompt tokens, 44 generated.
    assert_eq!((rs[0].input_tokens, rs[0].output_tokens), (374, 44));
    assert_eq!(s.reusable_block_share, 0.0, "Azure rows share nothing");
}

#[test]
fn mooncake_blocks_are_shared_as_in_the_trace() {
    let rs = replay("{path: mooncake_conversation.jsonl.gz, format: mooncake}").unwrap();
    // Rows 1 and 2 share their first block (hash id 0) and nothing else.
    assert_eq!(rs[0].prefix_blocks[0], rs[1].prefix_blocks[0]);
    assert_ne!(rs[0].prefix_blocks[1], rs[1].prefix_blocks[1]);
    let mut stats = StatsBuilder::new(&["t".to_string()]);
    rs.iter().for_each(|r| stats.record(r));
    let share = stats.finish().total.reusable_block_share;
    assert!(share > 0.3 && share < 0.9, "reusable share {share}");
}

#[test]
fn speed_and_windows() {
    let base = "path: azure_llm_2023_conv.csv.gz, format: azure";
    let fast = replay(&format!("{{{base}, speed: 2}}")).unwrap();
    assert_eq!(fast.len(), 19_366);
    assert!((span_s(&fast) - 3_501.721_937 / 2.0).abs() < 1e-6);
    let slow = replay(&format!("{{{base}, speed: 0.5}}")).unwrap();
    assert!((span_s(&slow) - 3_501.721_937 * 2.0).abs() < 1e-6);
    // Trace window: rows between 600 s and 1200 s after the first, replayed from t=0.
    let all = replay(&format!("{{{base}}}")).unwrap();
    let want = all
        .iter()
        .filter(|r| (600.0..1200.0).contains(&r.arrival.as_secs_f64()))
        .count();
    let win = replay(&format!("{{{base}, from_s: 600, to_s: 1200}}")).unwrap();
    assert_eq!(win.len(), want);
    assert!(win[0].arrival.as_secs_f64() < 1.0);
    // Stream window: start later, cut at end_s.
    let cfg = WorkloadConfig::from_yaml_str(
        &format!("streams: [{{name: t, start_s: 100, end_s: 400, trace: {{{base}}}}}]"),
        "test",
    )
    .unwrap();
    let spec = cfg.validate("traffic", &traces_dir()).unwrap();
    let mut w = Workload::new(&spec, &RngStreams::new(1)).unwrap();
    let mut n = 0;
    let t100 = SimTime::ZERO + SimDuration::from_secs(100).unwrap();
    let t400 = SimTime::ZERO + SimDuration::from_secs(400).unwrap();
    while let Some(r) = w.next_request().unwrap() {
        assert!(r.arrival >= t100 && r.arrival < t400);
        n += 1;
    }
    let want = all
        .iter()
        .filter(|r| r.arrival.as_secs_f64() < 300.0)
        .count();
    assert_eq!(n, want);
}

#[test]
fn a_random_start_replays_a_different_window_per_seed() {
    let base = "path: azure_llm_2023_conv.csv.gz, format: azure";
    let all = replay(&format!("{{{base}}}")).unwrap();
    let window = |seed: u64| {
        replay_seeded(
            &format!("{{{base}, to_s: 600, random_start_s: 1800}}"),
            seed,
        )
        .unwrap()
    };
    let (a, b) = (window(1), window(2));
    assert_eq!(a, window(1), "the same seed replays the same window");
    let sizes = |rs: &[Request]| -> Vec<(u32, u32)> {
        rs.iter()
            .map(|r| (r.input_tokens, r.output_tokens))
            .collect()
    };
    assert_ne!(
        sizes(&a),
        sizes(&b),
        "two seeds, two stretches of the trace"
    );
    // Each is a 600 s stretch of the trace starting within its first 1800 s, replayed from
    // time zero: its requests are a contiguous run of the whole trace's.
    for w in [&a, &b] {
        assert!(span_s(w) < 600.0 && w[0].arrival.as_secs_f64() < 1.0);
        let first = all
            .iter()
            .position(|r| {
                (r.input_tokens, r.output_tokens) == (w[0].input_tokens, w[0].output_tokens)
            })
            .unwrap();
        assert!(all[first].arrival.as_secs_f64() < 1800.0 + 1.0);
    }
    let err = replay(&format!("{{{base}, random_start_s: -1}}"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("trace.random_start_s: must be >= 0"), "{err}");
}

#[test]
fn plain_and_gzip_read_the_same() {
    let gz = traces_dir().join("mooncake_synthetic.jsonl.gz");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap()),
        &mut text,
    )
    .unwrap();
    let plain = tmp("synthetic.jsonl", &text);
    let a: Vec<_> = TraceReader::open(&gz, TraceFormat::Mooncake)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let b: Vec<_> = TraceReader::open(&plain, TraceFormat::Mooncake)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(TraceFormat::detect(&gz).unwrap(), TraceFormat::Mooncake);
    let azure = traces_dir().join("azure_llm_2023_code.csv.gz");
    assert_eq!(TraceFormat::detect(&azure).unwrap(), TraceFormat::Azure);
    // A gzip stream cut short is an error placed at a line where reading stopped.
    let bytes = std::fs::read(&azure).unwrap();
    let cut = std::env::temp_dir().join(format!("servesim-cut-{}.csv.gz", std::process::id()));
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = TraceReader::open(&cut, TraceFormat::Azure)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_err()
        .to_string();
    let at = e.split(':').nth(1).and_then(|l| l.parse::<u64>().ok());
    assert!(at.is_some_and(|l| l > 1), "{e}");
    std::fs::remove_file(&cut).unwrap();
}

#[test]
fn azure_2024_time_zone_and_burstgpt() {
    let p = tmp(
        "az2024.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2024-05-10 00:00:00.009930+00:00,100,10\n\
         2024-05-10 00:00:01.509930+00:00,200,20\n\
         2024-05-10 02:00:03.009930+02:00,300,30\n",
    );
    let rows: Vec<_> = TraceReader::open(&p, TraceFormat::Azure)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].time_ns - rows[0].time_ns, 1_500_000_000);
    assert_eq!(rows[2].time_ns - rows[0].time_ns, 3_000_000_000);
    let p = tmp(
        "burst.csv",
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
         5,ChatGPT,472,18,490,Conversation log\n\
         45,ChatGPT,1087,0,1087,Conversation log\n\
         118.5,GPT-4,417,276,693,API log\n",
    );
    assert_eq!(TraceFormat::detect(&p).unwrap(), TraceFormat::Burstgpt);
    let rs = replay(&format!(
        "{{path: {}, format: burstgpt, speed: 2}}",
        p.display()
    ))
    .unwrap();
    assert_eq!(rs.len(), 3);
    assert_eq!(rs[2].arrival.as_nanos(), 56_750_000_000);
    assert_eq!((rs[1].input_tokens, rs[1].output_tokens), (1087, 0));
    assert_eq!(
        read_sizes(&p, TraceFormat::Burstgpt).unwrap()[2],
        (417, 276)
    );
}

/// The error text for a trace with this content.
fn error_of(name: &str, format: &str, content: &str) -> String {
    let p = tmp(name, content);
    let err = replay(&format!("{{path: {}, format: {format}}}", p.display())).unwrap_err();
    let text = err.to_string();
    // Always starts with the file's path.
    assert!(text.starts_with(&p.display().to_string()), "{text}");
    text[p.display().to_string().len()..].to_string()
}

#[test]
fn malformed_rows_name_file_line_and_column() {
    const H: &str = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
    let row = "2023-11-16 18:15:46.68,374,44\n";
    assert_eq!(
        error_of(
            "a1.csv",
            "azure",
            &format!("{H}{row}{row}2023-11-16 18:15:47,12x,5\n")
        ),
        ":4:2: ContextTokens: \"12x\": invalid digit found in string"
    );
    // The same lines where they end in CRLF, as the shipped Azure traces' do.
    let crlf = |text: String| text.replace('\n', "\r\n");
    assert_eq!(
        error_of(
            "a1crlf.csv",
            "azure",
            &crlf(format!("{H}{row}{row}2023-11-16 18:15:47,12x,5\n"))
        ),
        ":4:2: ContextTokens: \"12x\": invalid digit found in string"
    );
    assert!(
        error_of(
            "a3crlf.csv",
            "azure",
            &crlf(format!("{H}{row}2023-11-16 18:15:47,1\n"))
        )
        .starts_with(":3:")
    );
    assert!(
        error_of(
            "a2.csv",
            "azure",
            &format!("{H}{row}2023-11-16 25:00:00,1,1\n")
        )
        .starts_with(":3:1: TIMESTAMP")
    );
    assert!(
        error_of(
            "a3.csv",
            "azure",
            &format!("{H}{row}2023-11-16 18:15:47,1\n")
        )
        .starts_with(":3:")
    );
    assert!(
        error_of(
            "a4.csv",
            "azure",
            &format!("{H}{row}2023-11-16 18:15:40,1,1\n")
        )
        .starts_with(":3:1: timestamp goes back in time")
    );
    assert!(
        error_of("a5.csv", "azure", "TIME,ContextTokens,GeneratedTokens\n")
            .starts_with(":1:1: expected header column \"TIMESTAMP\"")
    );
    assert!(
        error_of(
            "a6.csv",
            "azure",
            &format!("{H}{row}2023-11-16 18:15:47,-5,1\n")
        )
        .starts_with(":3:2: ContextTokens")
    );
    let m = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [0]}\n";
    assert_eq!(
        error_of(
            "m1.jsonl",
            "mooncake",
            &format!("{m}{m}{{\"timestamp\": 5, \"input_length\": \"x\"}}\n")
        ),
        ":3:36: input_length: invalid type: string \"x\", expected a whole number from 0 to 4294967295"
    );
    // A byte-order mark is not part of the first record; bytes that are not UTF-8 are
    // their line's fault.
    let bom = format!("\u{feff}{m}{m}");
    assert!(
        replay(&format!(
            "{{path: {}, format: mooncake}}",
            tmp("m4.jsonl", &bom).display()
        ))
        .is_ok()
    );
    let p = tmp("m5.jsonl", "");
    std::fs::write(
        &p,
        [m.as_bytes(), b"{\"timestamp\": 1, \"x\": \"\xff\"}\n"].concat(),
    )
    .unwrap();
    let e = replay(&format!("{{path: {}, format: mooncake}}", p.display())).unwrap_err();
    // In a CSV trace, the field of the bytes that are not text is its column.
    let c = tmp("c5.csv", "");
    std::fs::write(
        &c,
        b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:06.0,100,2\xff0\n",
    )
    .unwrap();
    let ce = replay(&format!("{{path: {}, format: azure}}", c.display())).unwrap_err();
    assert!(
        ce.to_string().ends_with("c5.csv:2:3: not UTF-8 text"),
        "{ce}"
    );
    assert!(
        e.to_string().ends_with("m5.jsonl:2:1: not UTF-8 text"),
        "{e}"
    );
    // A blank line holds no record: skipped, as in a CSV trace, and the lines after it keep
    // their numbers.
    let p = tmp("m2.jsonl", &format!("{m}\n \n{m}\n"));
    let rows: Vec<_> = TraceReader::open(&p, TraceFormat::Mooncake)
        .unwrap()
        .map(|r| r.unwrap().line)
        .collect();
    assert_eq!(rows, [1, 4]);
    // Two records run into one line (`cat` of a file without a final newline), or anything
    // after a record: not one lost without a word.
    let joined = format!("{}{m}", m.trim_end());
    assert_eq!(
        error_of("m6.jsonl", "mooncake", &joined),
        ":1:74: more after the record (one JSON record a line)"
    );
    assert!(
        error_of("m7.jsonl", "mooncake", &format!("{m}{}}}\n", m.trim_end())).starts_with(":2:")
    );
    assert!(
        error_of(
            "m3.jsonl",
            "mooncake",
            &format!("{m}{{\"timestamp\": 1}}\n")
        )
        .starts_with(":2:")
    );
    let missing = replay("{path: no_such_file.csv, format: azure}").unwrap_err();
    assert!(matches!(missing, TrafficError::Io { .. }), "{missing}");
}

#[test]
fn mooncake_writer_round_trips() {
    let cfg = WorkloadConfig::from_yaml_str(
        "streams:
           - name: chat
             end_s: 300
             shared_prefix_tokens: 1024
             open:
               arrival: {kind: poisson, rate_per_s: 4}
               input: {kind: lognormal, mean: 900, p50: 600}
               output: {kind: uniform, min: 10, max: 400}",
        "test",
    )
    .unwrap();
    let spec = cfg.validate("traffic", Path::new(".")).unwrap();
    let mut w = Workload::new(&spec, &RngStreams::new(3)).unwrap();
    let mut written = Vec::new();
    let mut out = MooncakeWriter::new(Vec::new());
    while let Some(r) = w.next_request().unwrap() {
        out.write(&r).unwrap();
        written.push(r);
    }
    let bytes = out.finish().unwrap();
    let path = tmp("written.jsonl", std::str::from_utf8(&bytes).unwrap());
    let rows: Vec<_> = TraceReader::open(&path, TraceFormat::Mooncake)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), written.len());
    for (row, r) in rows.iter().zip(&written) {
        assert_eq!(
            (row.input_tokens, row.output_tokens),
            (r.input_tokens, r.output_tokens)
        );
        assert_eq!(row.hash_ids[..], r.prefix_blocks[..]);
        let ms = r.arrival.as_nanos() as f64 / 1e6;
        assert!((row.time_ns as f64 / 1e6 - ms).abs() <= 0.5);
    }
    // The shared system prompt (two blocks) is common to every request.
    assert!(
        rows.iter()
            .all(|r| r.hash_ids[..2] == rows[0].hash_ids[..2])
    );
}

#[test]
fn a_trace_that_replays_nothing_is_an_error() {
    const H: &str = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
    let empty = tmp("empty.csv", H);
    let err = replay(&format!("{{path: {}, format: azure}}", empty.display()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("traffic.streams[0].trace: replays no request: ")
            && err.ends_with("has no rows"),
        "{err}"
    );
    let base = "path: azure_llm_2023_conv.csv.gz, format: azure";
    let err = replay(&format!("{{{base}, from_s: 5000}}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ends 3501.722 s after its first row, before from_s (5000.000 s)"),
        "{err}"
    );
    // A window that holds rows still replays them.
    assert!(
        !replay(&format!("{{{base}, from_s: 3000}}"))
            .unwrap()
            .is_empty()
    );
    // A window moved past the end by random_start_s says so, not that from_s did.
    let err = replay(&format!("{{{base}, random_start_s: 1000000}}"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("before the window's start (")
            && err.contains(": from_s 0.000 s and ")
            && err.contains(" s this seed drew of random_start_s)"),
        "{err}"
    );
}
