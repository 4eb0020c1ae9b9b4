"""The conformance kit over every built-in plugin (select with -k, e.g. -k "optimizer and rosenbrock")."""
from tinygrad_init.registry import KINDS, get_registry
from tinygrad_init.testing import conformance_cases, parametrize_with_checks


@parametrize_with_checks(plugins=["tinygrad-init"])
def test_builtin_conformance(tgi_case):
    tgi_case()


def test_every_builtin_component_is_covered_by_every_check_of_its_kind():
    cases = conformance_cases(plugins=["tinygrad-init"])
    from tinygrad_init.testing.conformance import checks_for
    for kind in KINDS:
        checks = set(checks_for(kind))
        assert checks, f"no contract checks for {kind}"
        builtins = [c.name for c in get_registry().components(kind).values()
                    if c.plugin.startswith("tinygrad-init[")]
        assert builtins, f"no built-in {kind}"
        for name in builtins:
            covered = {c.check_name for c in cases if c.component.kind == kind and c.component.name == name}
            assert covered == checks, (kind, name)
