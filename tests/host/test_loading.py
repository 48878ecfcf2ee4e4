"""host/loading.py: from a plugin reference to the object registered with pluggy."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import netscript.plugins.streams.hooks
from netscript.host.config import Config
from netscript.host.errors import HostError
from netscript.host.loading import (
    builtin_names,
    config_plugin,
    has_hookimpls,
    import_plugin,
    is_builtin_reference,
    is_path_reference,
    load_entry_points,
)
from tests.host.conftest import REPO, Project

MANIFEST_HOOK = """
from netscript import hookimpl


@hookimpl
def netscript_register_plugin(register):
    register(name={name!r})
"""


def _config(project: Project) -> Config:
    return Config(project_dir=project.root, entry_points=False)


@pytest.mark.parametrize(
    ("reference", "is_path"),
    [
        ("netscript.plugins.streams", False),
        ("streams", False),
        ("my_pkg.sub_1", False),
        ("./plugins/workers", True),
        ("../shared/plugin", True),
        ("/abs/plugin", True),
        ("plugins/workers", True),
        ("extra.py", True),
        ("~/plugins/x", True),
    ],
)
def test_path_or_module_name(reference: str, is_path: bool) -> None:
    assert is_path_reference(reference) is is_path


def test_a_package_without_hookimpls_yields_its_hooks_module(project: Project) -> None:
    source = import_plugin("netscript.plugins.streams", _config(project))
    assert source.plugin is netscript.plugins.streams.hooks
    assert source.module == "netscript.plugins.streams.hooks"
    assert source.file == str(REPO / "plugins" / "streams" / "hooks.py")
    assert source.reference == "netscript.plugins.streams"


def test_a_builtin_is_named_by_its_short_name(project: Project) -> None:
    source = import_plugin("streams", _config(project))
    assert source.plugin is netscript.plugins.streams.hooks
    assert source.reference == "streams"
    assert "streams" in builtin_names()


@pytest.mark.parametrize(
    ("reference", "builtin"),
    [("streams", True), ("my-plugin", True), ("a.b", False), ("./x", False), ("~x", False)],
)
def test_a_reference_without_dot_or_slash_is_a_builtin_name(reference: str, builtin: bool) -> None:
    assert is_builtin_reference(reference) is builtin


def test_an_unknown_builtin_name_lists_the_builtins(project: Project) -> None:
    with pytest.raises(HostError) as caught:
        import_plugin("wrokers", _config(project))
    message = str(caught.value)
    known = ", ".join(builtin_names())
    assert f"no built-in plugin of that name (built-ins: {known});" in message
    assert "streams" in known
    assert "'./wrokers'" in message


def test_a_user_module_named_like_a_builtin_is_given_as_a_path(project: Project) -> None:
    reference = project.plugin("streams", MANIFEST_HOOK.format(name="my-streams"))
    source = import_plugin("./plugins/streams", _config(project))
    assert source.plugin is not netscript.plugins.streams.hooks
    assert reference == "./plugins/streams"
    assert source.module.startswith("netscript_plugin_streams__")


def test_a_path_inside_an_importable_package_is_imported_by_name(project: Project) -> None:
    source = import_plugin(str(REPO / "plugins" / "streams"), _config(project))
    assert source.plugin is netscript.plugins.streams.hooks
    through_the_link = import_plugin(
        str(REPO / "netscript" / "plugins" / "streams"), _config(project)
    )
    assert through_the_link.plugin is netscript.plugins.streams.hooks


def test_a_path_plugin_elsewhere_gets_a_synthetic_name(project: Project) -> None:
    reference = project.plugin("web", MANIFEST_HOOK.format(name="web"))
    source = import_plugin(reference, _config(project))
    assert re.fullmatch(r"netscript_plugin_web__[0-9a-f]{12}\.hooks", source.module)
    assert source.file == "plugins/web/hooks.py"
    assert source.reference == "./plugins/web"
    assert has_hookimpls(source.plugin)


def test_a_synthetic_package_is_loaded_fresh_each_time(project: Project) -> None:
    reference = project.plugin("web", MANIFEST_HOOK.format(name="web"))
    first = import_plugin(reference, _config(project))
    second = import_plugin(reference, _config(project))
    assert first.module == second.module
    assert first.plugin is not second.plugin


def test_relative_imports_work_inside_a_path_plugin(project: Project) -> None:
    project.write("plugins/web/names.py", "NAME = 'web'\n")
    reference = project.plugin(
        "web",
        """
        from netscript import hookimpl

        from .names import NAME


        @hookimpl
        def netscript_register_plugin(register):
            register(name=NAME)
        """,
    )
    assert import_plugin(reference, _config(project)).plugin.NAME == "web"


def test_a_package_with_its_own_hookimpls_is_the_plugin(project: Project) -> None:
    project.write("plugins/flat/__init__.py", MANIFEST_HOOK.format(name="flat"))
    project.write("plugins/flat/hooks.py", "raise RuntimeError('not imported')\n")
    source = import_plugin("./plugins/flat", _config(project))
    assert source.file == "plugins/flat/__init__.py"


def test_a_single_file_plugin(project: Project) -> None:
    project.write("extra.py", MANIFEST_HOOK.format(name="extra"))
    source = import_plugin("./extra.py", _config(project))
    assert source.file == "extra.py"
    assert source.module.startswith("netscript_plugin_extra__")


def test_a_package_without_hookimpls_or_hooks_module(project: Project) -> None:
    project.write("plugins/empty/__init__.py", "VALUE = 1\n")
    with pytest.raises(HostError) as caught:
        import_plugin("./plugins/empty", _config(project))
    assert str(caught.value) == (
        "plugin './plugins/empty' (plugins/empty/__init__.py): defines no netscript hookimpls; "
        "add a hooks.py with @hookimpl functions (from netscript import hookimpl)"
    )


def test_hook_functions_without_the_marker(project: Project) -> None:
    reference = project.plugin("web", "def netscript_register_plugin(register):\n    pass\n")
    with pytest.raises(HostError, match=r"plugins/web/hooks\.py\): defines no netscript hookimpl"):
        import_plugin(reference, _config(project))


def test_a_folder_that_is_not_a_package(project: Project) -> None:
    project.write("plugins/loose/hooks.py", MANIFEST_HOOK.format(name="loose"))
    with pytest.raises(HostError, match=r"folder without __init__\.py"):
        import_plugin("./plugins/loose", _config(project))


def test_a_path_that_does_not_exist(project: Project) -> None:
    with pytest.raises(HostError) as caught:
        import_plugin("./plugins/ghost", _config(project))
    message = str(caught.value)
    assert message.startswith("plugin './plugins/ghost': ")
    assert "does not exist" in message
    assert str(project.root.resolve()) in message


def test_a_module_name_that_does_not_exist(project: Project) -> None:
    with pytest.raises(HostError) as caught:
        import_plugin("no_such.netscript_plugin", _config(project))
    assert str(caught.value).startswith(
        "plugin 'no_such.netscript_plugin': no module named 'no_such'; fix `plugins` in "
    )


def test_an_import_error_names_the_file_and_line(project: Project) -> None:
    project.write("plugins/broken/__init__.py", '"""Broken."""\nimport no_such_module_xyz\n')
    with pytest.raises(HostError) as caught:
        import_plugin("./plugins/broken", _config(project))
    assert str(caught.value) == (
        "plugin './plugins/broken' (plugins/broken/__init__.py:2): failed to import: "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'"
    )


def test_a_failing_hooks_module_names_its_file_and_line(project: Project) -> None:
    reference = project.plugin("broken", "X = 1\n\nraise RuntimeError('boom\\nsecond line')\n")
    with pytest.raises(HostError) as caught:
        import_plugin(reference, _config(project))
    assert str(caught.value) == (
        "plugin './plugins/broken' (plugins/broken/hooks.py:3): failed to import: "
        "RuntimeError: boom"
    )


def test_a_failed_synthetic_import_leaves_no_module_behind(project: Project) -> None:
    reference = project.plugin("broken", "raise RuntimeError('boom')\n")
    before = set(sys.modules)
    with pytest.raises(HostError):
        import_plugin(reference, _config(project))
    assert {name for name in set(sys.modules) - before if "broken" in name} == set()


def test_a_syntax_error_names_the_file_and_line(project: Project) -> None:
    reference = project.plugin("broken", "def netscript_register_plugin(:\n")
    with pytest.raises(HostError, match=r"\(plugins/broken/hooks\.py:1\): failed to import: Syn"):
        import_plugin(reference, _config(project))


def test_the_config_module_is_a_plugin_only_with_hookimpls(project: Project) -> None:
    from netscript.host.config import load_config_file

    config, module = load_config_file(project.config([]))
    assert config_plugin(module, config) is None
    config, module = load_config_file(project.config([], MANIFEST_HOOK.format(name="app")))
    source = config_plugin(module, config)
    assert source is not None
    assert (source.plugin, source.file, source.reference) == (
        module,
        "netscript.config.py",
        "netscript.config.py",
    )


# -- entry points: a real installed distribution (a dist-info folder on sys.path) ---------


def install_entry_point(site: Path, module: str, source: str) -> None:
    """A distribution with one ``netscript`` entry point, ``extra = <module>``."""
    dist = site / "netscript_test_dist-1.0.dist-info"
    dist.mkdir(parents=True)
    metadata = "Metadata-Version: 2.1\nName: netscript-test-dist\nVersion: 1.0\n"
    (dist / "METADATA").write_text(metadata)
    (dist / "entry_points.txt").write_text(f"[netscript]\nextra = {module}\n")
    (site / f"{module}.py").write_text(source)


def unique_module(tmp_path: Path) -> str:
    return "ep_plugin_" + re.sub(r"\W", "_", tmp_path.name)


def test_entry_points_are_loaded(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = unique_module(tmp_path)
    install_entry_point(tmp_path / "site", module, MANIFEST_HOOK.format(name="extra"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    sources = load_entry_points(_config(project))
    assert [source.module for source in sources] == [module]
    assert sources[0].reference == f"entry point extra = {module} (netscript-test-dist)"


def test_a_broken_entry_point_names_itself(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = unique_module(tmp_path)
    install_entry_point(tmp_path / "site", module, "raise ImportError('cannot load the thing')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(HostError) as caught:
        load_entry_points(_config(project))
    message = str(caught.value)
    assert message.startswith(f"plugin 'entry point extra = {module} (netscript-test-dist)' (")
    assert f"{module}.py:1): failed to import: ImportError: cannot load the thing" in message
