"""The command line: ``mnemosyne-consensus list | check | prove | bench``.

Exit codes (scripts depend on them): 0 everything holds; 1 an invariant or proof failed (the
trace or counterexample is printed); 2 bad usage or bad input, with a one-line message and no
traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from .engine import Bounds, ExplorationResult, explore, simulate
from .registry import PROTOCOLS, protocol
from .registry_types import Config, Mutant, ProtocolEntry
from .render import describe_result, itf_trace, result_to_json, summary_line


class UsageError(Exception):
    """Bad usage or bad input: reported in one line, exit code 2."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return value


# -- list ----------------------------------------------------------------------------------------


def _properties(entry: ProtocolEntry) -> dict[str, list[str]]:
    model = entry.build(entry.default_config, None)
    return {
        "always": [p.name for p in model.invariants],
        "always (transitions)": [p.name for p in model.step_properties],
        "sometimes": [p.name for p in model.reachables],
    }


def cmd_list(args: argparse.Namespace) -> int:
    document = []
    for entry in PROTOCOLS.values():
        document.append(
            {
                "protocol": entry.name,
                "summary": entry.summary,
                "source": entry.source,
                "configs": [
                    {"name": c.name, "description": c.description, "params": dict(c.params)}
                    for c in entry.configs
                ],
                "properties": _properties(entry),
                "mutants": [
                    {"name": m.name, "description": m.description, "breaks": m.breaks}
                    for m in entry.mutants
                ],
            }
        )
    if args.json:
        # config parameters are data, but a few are protocol values (an operation, a message):
        # those are shown as their repr rather than refused
        print(json.dumps({"protocols": document}, indent=2, default=repr))
        return 0
    for item in document:
        print(f"{item['protocol']} -- {item['summary']}")
        print(f"  source: {item['source']}")
        for i, c in enumerate(item["configs"]):
            default = " (default)" if i == 0 else ""
            print(f"  config {c['name']}{default}: {c['description']}")
        for kind, names in item["properties"].items():
            print(f"  {kind}: {', '.join(names)}")
        for m in item["mutants"]:
            print(f"  mutant {m['name']}: {m['description']} -- breaks {m['breaks']}")
        print()
    return 0


# -- check ---------------------------------------------------------------------------------------


@attrs.frozen
class _Run:
    entry: ProtocolEntry
    config: Config
    mutant: Mutant | None
    result: ExplorationResult[Any, Any]

    @property
    def label(self) -> str:
        return _label(self.entry, self.config, self.mutant)


def _label(entry: ProtocolEntry, config: Config, mutant: Mutant | None) -> str:
    """How a run is named in progress lines, summaries and ITF sources."""
    return f"{entry.name}/{config.name}" + (f" --mutant {mutant.name}" if mutant else "")


def _progress(label: str) -> Any:
    def report(figures: Any) -> None:
        print(
            f"[{label}] {int(figures['distinct']):,} distinct states, "
            f"{figures['rate']:,.0f} states/s, depth {int(figures['depth'])}, "
            f"queue {int(figures['queue']):,}, {figures['seconds']:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    return report


def _sized_config(entry: ProtocolEntry, args: argparse.Namespace) -> Config:
    """The config of ``--replicas N --byzantine F [--allow-unsafe]``."""
    if entry.sized_config is None:
        raise UsageError(f"{entry.name} has named configs only (see `list`): no --replicas")
    if args.replicas is None or args.byzantine is None:
        raise UsageError("--replicas and --byzantine go together")
    try:
        return entry.sized_config(args.replicas, args.byzantine, args.allow_unsafe)
    except ValueError as error:  # UnsafeConfigError included: its message says what to do
        raise UsageError(f"{entry.name}: {error}") from None


def _run_check(entry: ProtocolEntry, args: argparse.Namespace, config_name: str | None) -> _Run:
    try:
        if args.replicas is not None or args.byzantine is not None:
            if config_name is not None:
                raise UsageError("give --config or --replicas/--byzantine, not both")
            config = _sized_config(entry, args)
        else:
            config = entry.config(config_name)
        mutant = entry.mutant(args.mutant)
    except KeyError as error:
        raise UsageError(error.args[0]) from None
    model = entry.build(config, mutant)
    if args.invariant:
        try:
            model = model.restricted_to(args.invariant)
        except KeyError as error:
            known = ", ".join(model.property_names())
            raise UsageError(
                f"unknown property {error.args[0]} for {entry.name} (known: {known})"
            ) from None
    report = None if args.quiet else _progress(_label(entry, config, mutant))
    if args.simulate is not None:
        result = simulate(
            model,
            runs=args.simulate,
            steps=args.steps,
            seed=args.seed,
            max_seconds=args.max_seconds,
            progress=report,
        )
    else:
        bounds = Bounds(
            max_depth=args.depth if args.depth is not None else config.bounds.max_depth,
            max_states=args.max_states if args.max_states is not None else config.bounds.max_states,
            max_seconds=args.max_seconds
            if args.max_seconds is not None
            else config.bounds.max_seconds,
        )
        result = explore(model, bounds, progress=report)
    return _Run(entry, config, mutant, result)


def _table(runs: Sequence[_Run]) -> str:
    header = ("protocol", "config", "mode", "outcome", "distinct", "depth", "seconds", "states/s")
    rows = [header]
    for run in runs:
        r = run.result
        outcome = r.outcome.upper() + (f" (bounded: {r.bound_hit})" if r.bound_hit else "")
        rows.append(
            (
                run.entry.name + (f" [{run.mutant.name}]" if run.mutant else ""),
                run.config.name,
                r.mode,
                outcome,
                f"{r.distinct_states:,}",
                str(r.max_depth),
                f"{r.seconds:.2f}",
                f"{r.states_per_second:,.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_check(args: argparse.Namespace) -> int:
    if args.all == (args.protocol is not None):
        raise UsageError("give exactly one of PROTOCOL or --all")
    sized = args.replicas is not None or args.byzantine is not None
    if args.all and (args.mutant or args.itf or args.config or args.invariant or sized):
        raise UsageError(
            "--mutant, --config, --replicas, --invariant and --itf need a single PROTOCOL"
        )
    if args.allow_unsafe and not sized:
        raise UsageError("--allow-unsafe goes with --replicas N --byzantine F")
    if args.simulate is None and args.steps is not None:
        raise UsageError("--steps only applies with --simulate")
    if args.simulate is not None and (args.depth is not None or args.max_states is not None):
        raise UsageError("--depth and --max-states apply to exhaustive runs, not --simulate")
    args.steps = args.steps if args.steps is not None else 50
    if args.itf and not Path(args.itf).resolve().parent.is_dir():
        # refused before the run, not after a long one that found what it was asked to keep
        raise UsageError(f"cannot write ITF trace to {args.itf}: no such directory")
    if args.all:
        targets = list(PROTOCOLS.values())
    else:
        try:
            targets = [protocol(args.protocol)]
        except KeyError as error:
            raise UsageError(error.args[0]) from None
    runs: list[_Run] = []
    for entry in targets:
        run = _run_check(entry, args, args.config)
        runs.append(run)
        if not args.json:
            print(describe_result(run.label, run.result, entry.view), flush=True)
        elif not args.quiet:
            print(summary_line(run.label, run.result), file=sys.stderr, flush=True)
        if args.itf and run.result.violation is not None:
            document = itf_trace(run.result.violation, entry.view, source=run.label)
            try:
                Path(args.itf).write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
            except OSError as error:
                raise UsageError(
                    f"cannot write ITF trace to {args.itf}: {error.strerror}"
                ) from None
            if not args.json:
                print(f"ITF trace written to {args.itf}")
    failed = [run for run in runs if run.result.outcome != "ok"]
    if args.json:
        print(
            json.dumps(
                {
                    "ok": not failed,
                    "results": [
                        {
                            "protocol": run.entry.name,
                            "config": run.config.name,
                            "mutant": run.mutant.name if run.mutant else None,
                            **result_to_json(run.result, run.entry.view),
                        }
                        for run in runs
                    ],
                },
                indent=2,
            )
        )
    else:
        print()
        print(_table(runs))
        verdict = "all properties hold" if not failed else f"{len(failed)} run(s) failed"
        print(f"\n{len(runs)} run(s): {verdict}")
    return 1 if failed else 0


# -- prove ---------------------------------------------------------------------------------------


def cmd_prove(args: argparse.Namespace) -> int:
    from .. import proofs

    if args.all and args.name is not None:
        raise UsageError("give NAME or --all, not both")
    if not args.all and args.name is None and args.mutant is None:
        raise UsageError("give a proof or protocol NAME, --all, or --mutant")
    try:
        if args.name is None:
            results = proofs.run_all(mutant=args.mutant)
        elif args.name in proofs.PROTOCOLS:
            names = [p.name for p in proofs.PROOFS if p.protocol == args.name]
            results = tuple(proofs.run_proof(name, args.mutant) for name in names)
        else:
            results = (proofs.run_proof(args.name, args.mutant),)
    except proofs.ProofUsageError as error:
        raise UsageError(str(error)) from None
    failed = [r for r in results if r.status != "proved"]
    if args.json:
        print(json.dumps({"ok": not failed, **proofs.summary(results)}, indent=2))
    else:
        for r in results:
            print(f"{r.name}: {r.status.upper()} ({r.seconds:.2f} s)")
            if r.status != "proved":
                print("\n".join("    " + line for line in r.description.splitlines()))
            if r.counterexample:
                print("  counterexample:")
                print("\n".join("    " + line for line in r.counterexample.splitlines()))
            if r.reason:
                print(f"  solver: {r.reason}")
        proved = len(results) - len(failed)
        tail = f", {len(failed)} not proved" if failed else ""
        print(f"\n{proved}/{len(results)} proved{tail}")
    return 1 if failed else 0


# -- vectors and validate ------------------------------------------------------------------------


def cmd_vectors(args: argparse.Namespace) -> int:
    from .oracle import ORACLES
    from .vectors import write_vectors

    crypto = args.protocol in (None, "threshold-crypto")  # pure functions, not a node protocol
    if args.protocol is None:
        chosen = list(ORACLES.values())
    elif args.protocol in ORACLES:
        chosen = [ORACLES[args.protocol]]
    elif crypto:
        chosen = []
    else:
        known = ", ".join([*ORACLES, "threshold-crypto"])
        raise UsageError(f"unknown protocol {args.protocol!r} (known: {known})")
    out = Path(args.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        counts = write_vectors(out, chosen)
        if crypto:
            from .threshold_crypto import write_crypto_vectors

            path = write_crypto_vectors(out / "threshold-crypto")
    except OSError as error:
        raise UsageError(f"cannot write vectors to {out}: {error.strerror or error}") from None
    for name, count in counts.items():
        print(f"{name}: {count} cases and traces in {out / name}")
    if crypto:
        print(f"threshold-crypto: coin, decryption and erasure cases in {path}")
    return 0


def _looks_like_itf(first_line: bytes) -> bool:
    """JSON lines start with a one-line header object; anything else is read as one document."""
    import orjson

    try:
        header = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return True
    return not (isinstance(header, dict) and "format" in header)


def _load_whole(trace: Any) -> Any:
    import orjson

    from .validate import TraceFormatError, is_itf

    try:
        document = orjson.loads(trace.read())
    except orjson.JSONDecodeError as error:
        raise TraceFormatError(1, f"neither JSON lines nor an ITF document ({error.msg})") from None
    if not is_itf(document):
        raise TraceFormatError(1, "neither JSON lines (header first) nor an ITF document")
    return document


def cmd_validate_acc(args: argparse.Namespace) -> int:
    """``validate tendermint TRACE --acc-mapping FILE``: a TendermintAcc / Quint ITF trace."""
    from .codec import DecodeError
    from .tendermint_acc import decode_mapping, validate_acc_trace

    if args.protocol != "tendermint":
        raise UsageError("--acc-mapping reads traces of the community Tendermint specs only")
    import orjson

    def load(path: str) -> Any:
        try:
            with open(path, "rb") as handle:
                return orjson.loads(handle.read())
        except OSError as error:
            raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
        except orjson.JSONDecodeError as error:
            raise UsageError(f"{path} is not JSON ({error.msg})") from None

    try:
        mapping = decode_mapping(load(args.acc_mapping))
    except DecodeError as error:
        raise UsageError(f"bad mapping {args.acc_mapping}: {error}") from None
    try:
        result = validate_acc_trace(load(args.trace), mapping)
    except DecodeError as error:
        raise UsageError(f"malformed trace {args.trace}: {error}") from None
    failure = result.failure
    if args.json:
        document: dict[str, Any] = {"ok": failure is None, "states": result.states}
        document["failure"] = attrs.asdict(failure) if failure is not None else None
        print(json.dumps(document, indent=2))
    elif failure is None:
        print(f"{args.trace}: OK -- {result.states} states follow the tendermint spec")
    else:
        print(f"{args.trace}: state {failure.index} ({failure.fired_action}): {failure.reason}")
        print(f"  changed: {failure.changed}")
    return 0 if failure is None else 1


def cmd_validate(args: argparse.Namespace) -> int:
    from .oracle import oracle
    from .validate import TraceFormatError, validate_itf, validate_lines

    if args.acc_mapping is not None:
        return cmd_validate_acc(args)

    try:
        _, binding = oracle(args.protocol)
    except KeyError as error:
        raise UsageError(error.args[0]) from None
    try:
        with open(args.trace, "rb") as trace:
            first = trace.readline()
            trace.seek(0)
            if _looks_like_itf(first):
                document = _load_whole(trace)
                result = validate_itf(args.protocol, document, binding)
            else:
                result = validate_lines(args.protocol, trace, binding.step_checker)
    except OSError as error:
        raise UsageError(f"cannot read {args.trace}: {error.strerror or error}") from None
    except TraceFormatError as error:
        raise UsageError(f"malformed trace {args.trace}: {error}") from None
    failure = result.failure
    if args.json:
        document: dict[str, Any] = {"ok": failure is None, "steps": result.steps, "failure": None}
        if failure is not None:
            document["failure"] = attrs.asdict(failure)
        print(json.dumps(document, indent=2))
    elif failure is None:
        print(f"{args.trace}: OK -- {result.steps} steps follow the {args.protocol} spec")
    else:
        print(
            f"{args.trace}: {failure.unit} {failure.line}: "
            f"node {failure.node} broke {failure.property_name}"
        )
        print(f"  event:    {json.dumps(failure.event, sort_keys=True)}")
        print(f"  required: {failure.expected}")
        print(f"  observed: {failure.observed}")
    return 0 if failure is None else 1


def cmd_conform(args: argparse.Namespace) -> int:
    from .conform import main_conform

    vectors = Path(args.vectors) if args.vectors else None
    return main_conform(args.protocol, args.adapter, vectors, args.timeout, args.json)


# -- bench ---------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import FIGURES, flatten

    unknown = sorted(set(args.protocol) - set(PROTOCOLS) - set(FIGURES))
    if unknown:
        known = ", ".join(sorted({*PROTOCOLS, *FIGURES}))
        raise UsageError(f"nothing to benchmark called {', '.join(unknown)} (known: {known})")
    document = []
    for entry in PROTOCOLS.values():
        if args.protocol and entry.name not in args.protocol:
            continue
        config = entry.default_config
        model = entry.build(config, None)
        result = explore(model, Bounds(max_seconds=args.seconds))
        document.append(
            {
                "protocol": entry.name,
                "config": config.name,
                "distinct_states": result.distinct_states,
                "states_explored": result.states_explored,
                "max_depth": result.max_depth,
                "seconds": round(result.seconds, 3),
                "distinct_states_per_second": round(result.states_per_second),
                "complete": result.complete,
            }
        )
        if not args.json:
            complete = "complete" if result.complete else f"cut by {result.bound_hit}"
            print(
                f"{entry.name:<14} {config.name:<8} {result.distinct_states:>10,} distinct "
                f"{result.states_explored:>11,} explored  depth {result.max_depth:>3}  "
                f"{result.seconds:7.2f} s  {result.states_per_second:>9,.0f} distinct states/s"
                f"  ({complete})",
                flush=True,
            )
    figures: dict[str, Any] = {}
    for name, measure in FIGURES.items():
        if args.figures and (not args.protocol or name in args.protocol):
            figures[name] = measure(args.seconds)
            if not args.json:
                for key, value in flatten(figures[name]):
                    if isinstance(value, float):
                        value = round(value, 3)
                    shown = f"{value:,}" if isinstance(value, int | float) else value
                    print(f"{name:<14} {key} = {shown}", flush=True)
    validation = None
    if args.trace_events:
        from .bench import bench_validation

        validation = bench_validation(args.trace_events)
        if not args.json:
            for label in ("short", "full"):
                f = validation[label]
                print(
                    f"trace validation (gcounter, {f['events']:,} events, {f['trace_mib']} MiB): "
                    f"{f['seconds']:.2f} s, {f['events_per_second']:,} events/s, "
                    f"peak memory {f['peak_rss_mib']} MiB",
                    flush=True,
                )
    if args.json:
        report = {"bench": document, "figures": figures, "trace_validation": validation}
        print(json.dumps(report, indent=2))
    return 0


# -- simulate ------------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    """Large seeded simulations of Slush, Snowflake and Snowball (numpy, many seeds)."""
    from .snow_sim import simulate

    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            message = "--plot needs matplotlib: pip install 'mnemosyne-consensus[plot]'"
            raise UsageError(message) from None
    try:
        report = simulate(
            protocol=args.protocol,
            nodes=args.nodes,
            k=args.k,
            alpha_p=args.alpha_p,
            alpha_c=args.alpha_c if args.alpha_c is not None else args.alpha_p,
            beta=args.beta,
            byzantine_fraction=args.byzantine_fraction,
            adversary=args.adversary,
            seeds=args.seeds,
            max_rounds=args.max_rounds,
            plot=Path(args.plot) if args.plot is not None else None,
            scheduler=args.scheduler,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        raise UsageError(f"cannot write {args.plot}: {error.strerror or error}") from None
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.to_text())
    return 1 if args.fail_on_conflict and report.conflicts else 0


# -- entry point ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnemosyne-consensus",
        description="Bounded model checks, proofs and benchmarks of the Mnemosyne consensus layer.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p_list = commands.add_parser("list", help="protocols, configs, properties and mutants")
    p_list.add_argument("--json", action="store_true", help="one JSON document")
    p_list.set_defaults(handler=cmd_list)

    p_check = commands.add_parser("check", help="bounded model runs (exit 1 on a violation)")
    p_check.add_argument("protocol", nargs="?", metavar="PROTOCOL")
    p_check.add_argument("--all", action="store_true", help="every protocol, default configs")
    p_check.add_argument("--config", metavar="NAME")
    p_check.add_argument(
        "--replicas",
        "--validators",
        type=_positive_int,
        metavar="N",
        help="N processes (protocols with sized configs; with --byzantine)",
    )
    p_check.add_argument("--byzantine", type=_natural, metavar="F", help="F of them Byzantine")
    p_check.add_argument(
        "--allow-unsafe",
        action="store_true",
        help="accept an F the protocol cannot tolerate, to see the counterexample",
    )
    p_check.add_argument("--depth", type=_natural, metavar="N", help="maximum depth")
    p_check.add_argument("--max-states", type=_positive_int, metavar="N", help="distinct states")
    p_check.add_argument("--max-seconds", type=_positive_float, metavar="S")
    p_check.add_argument("--simulate", type=_positive_int, metavar="RUNS", help="random walks")
    p_check.add_argument("--steps", type=_positive_int, metavar="N", help="steps per walk")
    p_check.add_argument("--seed", type=_natural, default=0, metavar="S")
    p_check.add_argument("--mutant", metavar="NAME", help="run a deliberately broken variant")
    p_check.add_argument(
        "--invariant",
        action="append",
        metavar="NAME",
        help="check only this property (repeatable)",
    )
    p_check.add_argument("--itf", metavar="FILE", help="write the violation's trace as ITF JSON")
    p_check.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p_check.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p_check.set_defaults(handler=cmd_check)

    p_prove = commands.add_parser("prove", help="z3 proofs for unbounded sizes")
    p_prove.add_argument("name", nargs="?", metavar="NAME", help="a proof or a protocol")
    p_prove.add_argument("--all", action="store_true")
    p_prove.add_argument("--mutant", metavar="NAME", help="prove against a broken encoding")
    p_prove.add_argument("--json", action="store_true")
    p_prove.set_defaults(handler=cmd_prove)

    p_vectors = commands.add_parser("vectors", help="conformance vectors for other implementations")
    vector_commands = p_vectors.add_subparsers(dest="vectors_command", required=True)
    p_generate = vector_commands.add_parser("generate", help="write the vector tree")
    p_generate.add_argument("out_dir", metavar="OUT_DIR")
    p_generate.add_argument("--protocol", metavar="P")
    p_generate.set_defaults(handler=cmd_vectors)

    p_validate = commands.add_parser("validate", help="check a recorded trace against the spec")
    p_validate.add_argument("protocol", metavar="PROTOCOL")
    p_validate.add_argument("trace", metavar="TRACE_FILE")
    p_validate.add_argument(
        "--acc-mapping",
        metavar="FILE",
        help="TRACE is an ITF trace of TendermintAcc/Quint's Tendermint; FILE maps its processes",
    )
    p_validate.add_argument("--json", action="store_true")
    p_validate.set_defaults(handler=cmd_validate)

    p_conform = commands.add_parser(
        "conform", help="drive another implementation through the vectors (JSON lines)"
    )
    p_conform.add_argument("protocol", metavar="PROTOCOL")
    p_conform.add_argument("--adapter", required=True, metavar='"COMMAND ARGS"')
    p_conform.add_argument("--vectors", metavar="DIR", help="default: generate them afresh")
    p_conform.add_argument("--timeout", type=_positive_float, default=10.0, metavar="SECONDS")
    p_conform.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p_conform.set_defaults(handler=cmd_conform)

    p_sim = commands.add_parser(
        "simulate", help="seeded large-scale runs of slush, snowflake or snowball (statistics)"
    )
    p_sim.add_argument("protocol", choices=("slush", "snowflake", "snowball"))
    p_sim.add_argument("--nodes", type=_positive_int, default=2000, metavar="N")
    p_sim.add_argument("--k", type=_positive_int, default=20, metavar="K", help="sample size")
    p_sim.add_argument("--alpha-p", type=_positive_int, default=15, metavar="A")
    p_sim.add_argument(
        "--alpha-c", type=_positive_int, default=None, metavar="A", help="default: --alpha-p"
    )
    p_sim.add_argument("--beta", type=_positive_int, default=20, metavar="B")
    p_sim.add_argument("--byzantine-fraction", type=float, default=0.0, metavar="F")
    p_sim.add_argument("--adversary", choices=("balance", "echo", "silent"), default="balance")
    p_sim.add_argument("--seeds", type=_positive_int, default=20, metavar="S", help="runs 1..S")
    p_sim.add_argument("--max-rounds", type=_positive_int, default=1000, metavar="R")
    p_sim.add_argument("--scheduler", choices=("synchronous", "sequential"), default="synchronous")
    p_sim.add_argument("--plot", metavar="FILE.png", help="colour fractions per round (matplotlib)")
    p_sim.add_argument(
        "--fail-on-conflict", action="store_true", help="exit 1 if any run decided both colours"
    )
    p_sim.add_argument("--json", action="store_true")
    p_sim.set_defaults(handler=cmd_simulate)

    p_bench = commands.add_parser("bench", help="distinct states/s on each default config")
    p_bench.add_argument("protocol", nargs="*", metavar="PROTOCOL")
    p_bench.add_argument("--seconds", type=_positive_float, default=30.0, metavar="S")
    p_bench.add_argument(
        "--trace-events",
        type=_natural,
        default=1_000_000,
        metavar="N",
        help="length of the G-Counter trace to validate (0: skip)",
    )
    p_bench.add_argument(
        "--no-figures",
        dest="figures",
        action="store_false",
        help="model-checking rates only, not the protocols' own figures",
    )
    p_bench.add_argument("--json", action="store_true")
    p_bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except UsageError as error:
        print(f"mnemosyne-consensus: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
