"""The layout's rules, checked on the source: no import cycle anywhere, `core` never imports the apps, nothing in the
product imports the experiments, and adding a model touches its own file (no model-name switches outside models/)."""
import ast
import re
from pathlib import Path

from conftest import REPO

PACKAGES = ("core", "studio", "benchmarks", "experiments")


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (module level and inside functions alike)."""
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    modules = {_module(p): p for p in files}
    graph = {}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in modules:  # `import core.models.factory` names the module, `from x import f` its function
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    edges.add(t)
        graph[mod] = edges
    return graph


def find_cycle(graph):
    colour, stack = {}, []

    def visit(n):
        colour[n] = "grey"
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if colour.get(m) == "grey":
                return stack[stack.index(m):] + [m]
            if m not in colour and (found := visit(m)):
                return found
        colour[n] = "black"
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in colour and (found := visit(n)):
            return found
    return None


def test_no_import_cycle():
    graph = import_graph()
    assert "core.models.registry" in graph and "core.models.dsl_fiqa" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the checker finds one


def test_core_never_imports_apps_or_experiments():
    graph = import_graph()
    for mod, edges in graph.items():
        if mod.startswith("core"):
            assert not {e for e in edges if e.split(".")[0] in ("studio", "pages", "benchmarks", "experiments")}, mod
        if not mod.startswith("experiments"):
            assert not {e for e in edges if e.startswith("experiments")}, mod
    assert not graph["core.models.registry"] - {"core.errors"}  # the registry imports no model
    pages = [p.read_text() for p in (REPO / "pages").glob("*.py")]
    assert pages and not any(re.search(r"^\s*(from|import) (experiments|benchmarks)\b", t, re.M) for t in pages)


def test_core_stays_layered():
    top = sorted(p.name for p in (REPO / "core").iterdir() if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").is_file()))
    assert len([n for n in top if n.endswith(".py")]) <= 10, top  # the scoring path and the entry points; the rest in packages
    assert {"analysis", "assets", "data", "faces", "models", "train"} <= set(top)


def test_no_model_name_switches_outside_the_models():
    """Per-model behaviour lives on the model class (cam_target_layer, explanation_maps, training_loss, ...)."""
    names = ("stylegan-iqa", "stylegan-iqa-tf", "dsl-fiqa", "ifqa", "tinyfqnet", "resnet50-iqa")
    alternatives = "|".join(map(re.escape, names))
    switch = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](""" + alternatives + r""")["']""")
    offenders = []
    for p in (REPO / "core").rglob("*.py"):
        if "models" in p.relative_to(REPO).parts:
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if switch.search(line):
                offenders.append(f"{p.relative_to(REPO)}:{i}: {line.strip()}")
    allowed = {"core/cli.py", "core/train/config.py"}  # IFQA is a GAN with its own trainer and presets (a different loop)
    assert [o for o in offenders if o.split(":")[0] not in allowed] == [], offenders
