"""`nasnet-search report`: reward-over-trials plot, the best architectures drawn,
and the trials table (CSV and Markdown)."""

import json
import os

from nasnet_search import storage
from nasnet_search.results import best_so_far, load_results, write_csv


def plot_rewards(rows, path, title="Reward per trial"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    done = [(i, r["reward"]) for i, r in enumerate(rows) if r["reward"] is not None]
    failed = [i for i, r in enumerate(rows) if r["reward"] is None]
    if done:
        ax.scatter([i for i, _ in done], [v for _, v in done], s=12, label="trial reward")
    running = best_so_far(rows)
    ax.step(range(len(rows)), [float("nan") if v is None else v for v in running], where="post",
            color="C1", label="best so far")
    if failed:
        low = min((v for _, v in done), default=0.0)
        ax.scatter(failed, [low] * len(failed), marker="x", color="C3", label="failed")
    ax.set_xlabel("trial (end order)")
    ax.set_ylabel("reward")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(project_dir, output=None, top=5):
    """Write the report into ``output`` (default ``<project>/report``); return its files."""
    from nasnet_search.space import space_from_config

    rows = load_results(project_dir)
    if not rows:
        raise ValueError(f"{project_dir!r} has no ended trials to report on.")
    state = storage.read_json(os.path.join(project_dir, "oracle.json"))
    space = space_from_config(state["nas"]["space"])
    output = output or os.path.join(project_dir, "report")
    os.makedirs(output, exist_ok=True)
    files = [plot_rewards(rows, os.path.join(output, "rewards.png"),
                          f"{state['nas']['strategy']}: reward per trial"),
             write_csv(rows, os.path.join(output, "trials.csv"))]
    ranked = sorted((r for r in rows if r["reward"] is not None), key=lambda r: -r["reward"])
    lines = [f"# Search report: {os.path.basename(os.path.normpath(project_dir))}", "",
             f"Strategy {state['nas']['strategy']}; {space.summary()}.", "",
             f"{len(rows)} trials ended, {len(ranked)} completed, "
             f"{len(rows) - len(ranked)} failed.", "",
             "| rank | trial | reward | params | seconds |", "|---|---|---|---|---|"]
    for rank, row in enumerate(ranked[:top], 1):
        params = row.get("metric:params")
        lines.append(f"| {rank} | {row['trial_id']} | {row['reward']:.4f} | "
                     f"{int(params):,} | {row['seconds']:.1f} |" if params else
                     f"| {rank} | {row['trial_id']} | {row['reward']:.4f} | - | {row['seconds']:.1f} |")
    failed = [r for r in rows if r["reward"] is None]
    if failed:
        lines += ["", "Failed trials:", ""] + [f"- trial {r['trial_id']}: {r['reason']}"
                                               for r in failed[:20]]
    if ranked:
        best = space.arch_from_dict(ranked[0]["architecture"])
        lines += ["", "Best architecture:", "", "```", space.describe(best), "```"]
        arch_path = os.path.join(output, "best_architecture.json")
        storage.atomic_write_bytes(arch_path, json.dumps(ranked[0]["architecture"], indent=1).encode())
        files.append(arch_path)
        if space.space_name == "nasnet":
            _draw_cells(best, output, files, lines)
        elif space.space_name == "recurrent":
            from nasnet_keras import plot_recurrent_cell

            files += list(plot_recurrent_cell(best, os.path.join(output, "best_cell"),
                                              title="Best recurrent cell").values())
            lines += ["", "![best cell](best_cell.png)"]
    return _write_summary(output, files, lines, "rewards.png")


def _draw_cells(genotype, output, files, lines):
    from nasnet_keras import plot_genotype

    drawn = plot_genotype(genotype, os.path.join(output, "best_cells"))
    files += list(drawn.values())
    lines += ["", "![best cells](best_cells.png)"]


def _write_summary(output, files, lines, plot):
    """``report.md`` (the lines, then the plot); returns every file of the report."""
    lines = lines + ["", f"![{plot[:-4].replace('_', ' ')}]({plot})", ""]
    summary = os.path.join(output, "report.md")
    storage.atomic_write_bytes(summary, "\n".join(lines).encode())
    return files + [summary]


def write_weight_sharing_report(project_dir, output=None):
    """The report of a `WeightSharingTuner` project: shared-weight accuracy per epoch, reward
    per controller update (RL) or per scoring phase, the final candidates' scores, the
    chosen cells drawn.  Returns its files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nasnet_search.space import space_from_config
    from nasnet_search.weight_sharing import JOURNAL, RESULT

    state = storage.read_json(os.path.join(project_dir, "tuner0.json"))
    space = space_from_config(state["space"])
    output = output or os.path.join(project_dir, "report")
    os.makedirs(output, exist_ok=True)
    journal = storage.read_jsonl(os.path.join(project_dir, JOURNAL))
    history = state["history"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot([h["epoch"] for h in history], [h["train_accuracy"] for h in history], "o-")
    axes[0].set(xlabel="epoch", ylabel="accuracy", title="Shared-weight train accuracy")
    updates = state["strategy_state"].get("updates") or []
    if updates:
        axes[1].plot(range(1, len(updates) + 1), [u["mean_reward"] for u in updates], "o-")
        axes[1].set(xlabel="controller update", title="Mean reward per controller update")
    else:
        scored = [r for r in journal if r["phase"] == "search"]
        axes[1].scatter([r["epoch"] for r in scored], [r["reward"] for r in scored], s=8)
        axes[1].set(xlabel="epoch", title="Reward of each scored architecture")
    axes[1].set_ylabel("validation-subset accuracy")
    final = sorted((r["reward"] for r in journal if r["phase"] == "final"), reverse=True)
    axes[2].bar(range(len(final)), final)
    axes[2].set(xlabel="final candidate (ranked)", ylabel="subset accuracy",
                title="Final candidates")
    fig.tight_layout()
    plot = os.path.join(output, "weight_sharing.png")
    fig.savefig(plot, dpi=100)
    plt.close(fig)
    files = [plot]
    lines = [f"# Weight-sharing search: {os.path.basename(os.path.normpath(project_dir))}", "",
             f"Strategy {state['strategy']}; {space.summary()}; {state['epoch']} shared-weight "
             f"epochs; {sum(r['phase'] == 'search' for r in journal)} architectures scored "
             "while searching.", ""]
    result = state.get("result")
    if result:
        from nasnet_keras import Genotype

        best = Genotype.from_dict(result["architecture"])
        lines += [f"Chosen among {result['candidates']} candidates: inherited-weight validation "
                  f"accuracy {result['inherited_val_accuracy']:.4f}.", "", "```",
                  best.describe(), "```"]
        storage.atomic_write_json(os.path.join(output, RESULT), result)
        files.append(os.path.join(output, RESULT))
        _draw_cells(best, output, files, lines)
    return _write_summary(output, files, lines, "weight_sharing.png")
