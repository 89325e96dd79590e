"""The ``nasnet-search`` command: run, resume, export, report.

``run`` records its arguments in ``<project>/search_config.json`` so that
``resume`` rebuilds the same search (only the budgets may change) and
``export``/``report`` need nothing but the project.

``run --workers K`` (and ``resume --workers K``) start a keras-tuner chief and
K workers on this machine, each running ``nasnet-search resume`` on the
project with its role's variables (`nasnet_search.distributed.launch`).
"""

import argparse
import os
import sys

from nasnet_keras.cli import _positive_int
from nasnet_search import storage

CONFIG = "search_config.json"
ALGORITHMS = ("ppo", "reinforce", "random", "evolution")


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _keep(text):
    if text in ("best", "all", "none"):
        return text
    try:
        return _positive_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be best, all, none or an integer >= 1, got {text}")


def _add_project_args(p):
    p.add_argument("--directory", default="searches", help="folder holding search projects")
    p.add_argument("--project-name", default="nas", help="the project's sub-folder")


def _add_parallel_args(p):
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="run a chief and this many worker processes on this machine")
    p.add_argument("--port", type=_positive_int, default=None,
                   help="the chief's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--recycle-every", type=_positive_int, default=None,
                   help="with --workers: restart each worker process after this many trials "
                        "(bounds the memory TensorFlow keeps per traced train step)")


def build_parser():
    parser = argparse.ArgumentParser(prog="nasnet-search", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start a new search")
    _add_project_args(run)
    run.add_argument("--space", choices=("nasnet", "macro", "recurrent"), default="nasnet",
                     help="recurrent: Zoph & Le's recurrent cells, language models on "
                          "--dataset text:pydoc | text:PATH")
    run.add_argument("--space-preset", default=None,
                     help="nasnet space only: nasnet | enas | pnas | nasnet_b | nasnet_c "
                          "(default: nasnet; enas with --weight-sharing)")
    run.add_argument("--weight-sharing", action="store_true",
                     help="ENAS: score architectures as paths through one shared-weight "
                          "supernet instead of training each child (give --max-time or --epochs)")
    run.add_argument("--macro-layers", type=_positive_int, default=6)
    run.add_argument("--algorithm", choices=ALGORITHMS, default="ppo")
    run.add_argument("--rl-preset", default="default", help="default | nasnet | nas2017 | enas")
    run.add_argument("--dataset", default=None,
                     help="digits | tfds:NAME | folder:PATH; text:pydoc | text:PATH with --space "
                          "recurrent (default: digits, or text:pydoc)")
    run.add_argument("--sequence-length", type=_positive_int, default=64,
                     help="recurrent space: characters per training window")
    run.add_argument("--units", type=_positive_int, default=64,
                     help="recurrent space: units of each of the child's two recurrent layers")
    run.add_argument("--recurrent-base", type=_positive_int, default=8,
                     help="recurrent space: leaves of the cell's tree (a power of two)")
    run.add_argument("--image-size", type=_positive_int, default=32)
    run.add_argument("--max-examples", type=_positive_int, default=None)
    run.add_argument("--max-trials", type=_positive_int, default=20)
    run.add_argument("--max-time", type=_positive_float, default=None,
                     help="wall-clock seconds; no trial starts after it")
    run.add_argument("--keep-checkpoints", type=_keep, default="best",
                     help="trial weights kept on disk: best | all | none | k (the best k)")
    run.add_argument("--lease-seconds", type=_positive_float, default=600.0,
                     help="with --workers: a worker silent this long loses its trial")
    run.add_argument("--epochs", type=_positive_int, default=None,
                     help="epochs per child (default 1); with --weight-sharing: shared-weight "
                          "epochs in all (default: as many as --max-time allows)")
    run.add_argument("--batch-size", type=_positive_int, default=64)
    run.add_argument("--learning-rate", type=float, default=3e-3, help="children's Adam rate")
    run.add_argument("--num-cells", type=_positive_int, default=1, help="proxy N (nasnet space)")
    run.add_argument("--filters", type=_positive_int, default=8, help="proxy F (nasnet space)")
    run.add_argument("--max-params", type=_positive_int, default=None)
    run.add_argument("--objective", default=None,
                     help="default: val_accuracy, or val_perplexity for --space recurrent (the "
                          "strategies' reward is then 80 / perplexity ** 2, as in the paper)")
    run.add_argument("--secondary", choices=("params", "mult_adds", "latency_ms"), default=None,
                     help="MnasNet-style second objective")
    run.add_argument("--target", type=float, default=None, help="target of --secondary")
    run.add_argument("--weight", type=float, default=-0.07, help="exponent of --secondary")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--overwrite", action="store_true", help="delete an existing project first")
    run.add_argument("--quiet", action="store_true")
    run.add_argument("--config-only", action="store_true",
                     help="write the project's search_config.json and stop (roles started by "
                          "hand then run `nasnet-search resume`)")
    _add_parallel_args(run)

    resume = sub.add_parser("resume", help="continue an interrupted or finished search")
    _add_project_args(resume)
    resume.add_argument("--max-trials", type=_positive_int, default=None,
                        help="raise the budget (default: as recorded)")
    resume.add_argument("--max-time", type=_positive_float, default=None,
                        help="wall-clock seconds for this session (default: as recorded)")
    resume.add_argument("--quiet", action="store_true")
    _add_parallel_args(resume)

    export = sub.add_parser("export", help="write the best architecture (JSON) and model (.keras)")
    _add_project_args(export)
    export.add_argument("--output", default=None, help="default: <project>/export")

    report = sub.add_parser("report", help="reward plot, best cells drawn, trials table")
    _add_project_args(report)
    report.add_argument("--output", default=None, help="default: <project>/report")
    return parser


def make_space(config):
    from nasnet_search.macro_space import MacroSearchSpace
    from nasnet_search.nasnet_space import NASNetSearchSpace
    from nasnet_search.recurrent_space import RecurrentCellSearchSpace

    if config["space"] == "recurrent":
        return RecurrentCellSearchSpace(base=config.get("recurrent_base", 8))
    if config["space"] == "macro":
        return MacroSearchSpace(num_layers=config["macro_layers"])
    return NASNetSearchSpace.preset(config["space_preset"])


def make_weight_sharing_tuner(config, overwrite, verbose=1):
    from nasnet_search.weight_sharing import WeightSharingTuner

    space = make_space(config)
    oracle = make_oracle(dict(config, max_trials=None), space)
    size = config["image_size"]
    return WeightSharingTuner(oracle, input_shape=(size, size, 3), classes=config["classes"],
                              num_cells=config["num_cells"], filters=config["filters"],
                              batch_size=config["batch_size"], seed=config["seed"],
                              directory=config["directory"], project_name=config["project_name"],
                              overwrite=overwrite, verbose=verbose)


def make_oracle(config, space):
    from nasnet_search.oracles import EvolutionOracle, RandomOracle
    from nasnet_search.rewards import Reward
    from nasnet_search.rl_oracle import RLOracle

    from nasnet_search.oracles import objective_direction
    from nasnet_search.recurrent_space import PERPLEXITY_CONSTANT

    perplexity = config["objective"].endswith("perplexity")
    reward = Reward(config["objective"], objective_direction(config["objective"]),
                    secondary=config["secondary"], target=config["target"], weight=config["weight"],
                    perplexity_constant=PERPLEXITY_CONSTANT if perplexity else None)
    common = dict(reward=reward, max_trials=config["max_trials"], seed=config["seed"],
                  max_time=config.get("max_time"), lease_seconds=config.get("lease_seconds", 600.0))
    algorithm = config["algorithm"]
    if algorithm == "random":
        return RandomOracle(space, **common)
    if algorithm == "evolution":
        return EvolutionOracle(space, **common)
    return RLOracle(space, algorithm=algorithm, preset=config["rl_preset"], **common)


def make_tuner(config, overwrite, verbose=1):
    import keras

    if config.get("weight_sharing"):
        return make_weight_sharing_tuner(config, overwrite, verbose)
    from nasnet_search.tuner import NASTuner

    space = make_space(config)
    oracle = make_oracle(config, space)
    size = config["image_size"]
    input_shape, metrics, child = (size, size, 3), ["accuracy"], {}
    if config["space"] == "nasnet":
        child = dict(num_cells=config["num_cells"], filters=config["filters"])
    elif config["space"] == "recurrent":  # language models over text windows
        from nasnet_keras.language_model import Perplexity

        input_shape, metrics = (config["sequence_length"],), [Perplexity()]
        child = dict(units=config["units"])
    rate = config["learning_rate"]
    return NASTuner(oracle, input_shape=input_shape, classes=config["classes"],
                    child_kwargs=child, optimizer=lambda: keras.optimizers.Adam(rate),
                    metrics=metrics, max_params=config["max_params"],
                    keep_checkpoints=config.get("keep_checkpoints", "best"),
                    directory=config["directory"],
                    project_name=config["project_name"], overwrite=overwrite, verbose=verbose)


def _load_data(config):
    from nasnet_search.datasets import load_dataset

    if config["space"] == "recurrent":
        from nasnet_keras.text import load_text

        (x, y), val, info = load_text(config["dataset"], config["sequence_length"],
                                      max_sequences=config["max_examples"])
        # Whole batches only: a last, smaller batch would make every child trace its train
        # step twice (and TensorFlow warn about retracing after a few children).
        keep = max(config["batch_size"], len(x) // config["batch_size"] * config["batch_size"])
        return (x[:keep], y[:keep]), val, info.vocab_size
    return load_dataset(config["dataset"], config["image_size"], seed=config["seed"],
                        max_examples=config["max_examples"])


def _search(config, tuner, data=None):
    from nasnet_search.distributed import role

    if role() == "chief":  # serves the oracle; trains nothing
        tuner.search()
        return
    (x, y), (xv, yv), _ = data or _load_data(config)
    if config.get("weight_sharing"):
        tuner.search(x, y, validation_data=(xv, yv), epochs=config["epochs"],
                     max_time=config["max_time"])
        return
    tuner.search(x, y, validation_data=(xv, yv), epochs=config["epochs"],
                 batch_size=config["batch_size"])


def _project_dir(args):
    return os.path.join(args.directory, args.project_name)


def _load_config(args):
    path = os.path.join(_project_dir(args), CONFIG)
    if not os.path.exists(path):
        raise SystemExit(f"nasnet-search: no search at {_project_dir(args)!r} ({CONFIG} missing); "
                         "start one with `nasnet-search run`.")
    return storage.read_json(path)


def _launch(args):
    """Run this project's search as a chief and ``--workers`` workers; exit with their code."""
    from nasnet_search.distributed import launch

    argv = [sys.executable, "-m", "nasnet_search.cli", "resume", "--directory", args.directory,
            "--project-name", args.project_name] + (["--quiet"] if args.quiet else [])
    code = launch(argv, workers=args.workers, port=args.port, recycle_every=args.recycle_every)
    if code:
        raise SystemExit(f"nasnet-search: the distributed search ended with code {code}.")
    return code


def _check_parallel_args(args):
    if args.recycle_every and not args.workers:
        raise SystemExit(f"nasnet-search: --recycle-every {args.recycle_every} needs --workers K: "
                         "it restarts worker processes, and a search without --workers has none.")


def _check_space_args(args):
    """Defaults that depend on the space, and the data a space cannot use."""
    from nasnet_keras.recurrent_genotypes import is_tree_base

    recurrent = args.space == "recurrent"
    if args.dataset is None:
        args.dataset = "text:pydoc" if recurrent else "digits"
    if args.objective is None:
        args.objective = "val_perplexity" if recurrent else "val_accuracy"
    text = args.dataset.startswith("text:")
    if recurrent and not text:
        raise SystemExit(f"nasnet-search: --space recurrent searches language models; --dataset "
                         f"must be text:pydoc or text:PATH, got {args.dataset!r}.")
    if text and not recurrent:
        raise SystemExit(f"nasnet-search: --dataset {args.dataset} is text; it needs --space "
                         f"recurrent (--space {args.space} trains image classifiers).")
    if recurrent and args.weight_sharing:
        raise SystemExit("nasnet-search: --weight-sharing supports --space nasnet (cells) only; "
                         "recurrent cells are searched stand-alone.")
    if recurrent and not is_tree_base(args.recurrent_base):
        raise SystemExit(f"nasnet-search: --recurrent-base must be a power of two >= 2, got "
                         f"{args.recurrent_base}.")


def _check_weight_sharing_args(args):
    if args.space_preset is None:
        args.space_preset = "enas" if args.weight_sharing else "nasnet"
    if not args.weight_sharing:
        args.epochs = args.epochs or 1
        return
    if args.space == "macro":
        raise SystemExit("nasnet-search: --weight-sharing needs --space nasnet (cells); the macro "
                         "space is searched stand-alone.")
    if args.workers:
        raise SystemExit("nasnet-search: --weight-sharing trains one supernet in one process; "
                         "--workers (one child per worker) does not apply.  Drop --workers.")
    if args.epochs is None and args.max_time is None:
        raise SystemExit("nasnet-search: --weight-sharing trains until --max-time SECONDS or "
                         "--epochs N is spent; give one of them.")
    from nasnet_search.nasnet_space import NASNetSearchSpace
    from nasnet_search.supernet import check_space

    try:
        check_space(NASNetSearchSpace.preset(args.space_preset))
    except ValueError as error:
        raise SystemExit(f"nasnet-search: --space-preset {args.space_preset}: {error}")


def cmd_run(args):
    _check_parallel_args(args)
    _check_space_args(args)
    _check_weight_sharing_args(args)
    project = _project_dir(args)
    if os.path.exists(os.path.join(project, CONFIG)) and not args.overwrite:
        raise SystemExit(f"nasnet-search: {project!r} already holds a search; continue it with "
                         "`nasnet-search resume`, or pass --overwrite to start over.")
    if (args.secondary is None) != (args.target is None):
        raise SystemExit("nasnet-search: --secondary and --target go together.")
    config = {k: v for k, v in vars(args).items()
              if k not in ("command", "overwrite", "quiet", "workers", "port", "config_only",
                           "recycle_every")}
    data = _load_data(config)
    config["classes"] = data[2]
    if args.workers or args.config_only:
        if args.overwrite and os.path.exists(project):
            import shutil

            shutil.rmtree(project)
        storage.atomic_write_json(os.path.join(project, CONFIG), config)
        if args.config_only:
            print(os.path.join(project, CONFIG))
            return 0
        return _launch(args)
    tuner = make_tuner(config, overwrite=args.overwrite, verbose=0 if args.quiet else 1)
    storage.atomic_write_json(os.path.join(project, CONFIG), config)
    if not args.quiet:
        print(f"Searching {tuner.space.summary()} with {type(tuner.oracle).__name__} "
              f"({config['algorithm']}); project {project}")
    _search(config, tuner, data)
    return tuner


def _finished(project, config):
    """Why the saved search will start no trial, or None: a finished search's workers
    would only wait for a chief that has nothing to serve."""
    path = os.path.join(project, "oracle.json")
    if not os.path.exists(path):
        return None
    state = storage.read_json(path)
    if state["ongoing_trials"] or state["retry_queue"]:
        return None
    stop = (state.get("nas") or {}).get("stop_reason")
    if stop:
        return f"stopped: {stop}"
    budget = config["max_trials"]
    if budget is not None and len(state["start_order"]) >= budget:
        return f"{len(state['end_order'])} of max_trials={budget} trials ended"
    return None


def cmd_resume(args):
    from nasnet_search.distributed import role

    _check_parallel_args(args)
    config = _load_config(args)
    changed = {k: getattr(args, k) for k in ("max_trials", "max_time")
               if getattr(args, k) is not None}
    if changed and role() != "worker":
        config.update(changed)
        storage.atomic_write_json(os.path.join(_project_dir(args), CONFIG), config)
    if args.workers:
        over = _finished(_project_dir(args), config)
        if over:
            print(f"nasnet-search: {_project_dir(args)} is finished ({over}); nothing to run. "
                  "Raise --max-trials to search more.")
            return None
        return _launch(args)
    tuner = make_tuner(config, overwrite=False, verbose=0 if args.quiet else 1)
    if config.get("weight_sharing"):
        if not args.quiet:
            print(f"Resuming {_project_dir(args)}: {tuner.epoch} shared-weight epochs done.")
        _search(config, tuner)
        return tuner
    if not args.quiet and role() == "local":
        done = len(tuner.oracle.end_order)
        print(f"Resuming {_project_dir(args)}: {done} trials ended, budget {config['max_trials']}.")
    _search(config, tuner)
    if tuner.recycle_requested:
        from nasnet_search.distributed import RECYCLE_EXIT

        raise SystemExit(RECYCLE_EXIT)  # the launcher starts this worker again
    return tuner


def cmd_export(args):
    config = _load_config(args)
    tuner = make_tuner(config, overwrite=False, verbose=0)
    output = args.output or os.path.join(_project_dir(args), "export")
    if config.get("weight_sharing"):
        (x, _), _, _ = _load_data(config)
        paths = tuner.export(output, calibration_data=x)
    else:
        paths = tuner.export(output)
    for path in paths:
        print(path)
    return paths


def cmd_report(args):
    from nasnet_search.report import write_report

    config = _load_config(args)
    if config.get("weight_sharing"):
        from nasnet_search.report import write_weight_sharing_report

        files = write_weight_sharing_report(_project_dir(args), args.output)
    else:
        files = write_report(_project_dir(args), args.output)
    for path in files:
        print(path)
    return files


def run_command(argv=None):
    """Parse ``argv`` and run the command; return what it produced (a tuner, paths)."""
    args = build_parser().parse_args(argv)
    handler = {"run": cmd_run, "resume": cmd_resume, "export": cmd_export,
               "report": cmd_report}[args.command]
    return handler(args)


def main(argv=None):
    """``nasnet-search``: exit status 0 on success (``sys.exit(main())``)."""
    from nasnet_keras.cli import console_main

    return console_main("nasnet-search", run_command, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
