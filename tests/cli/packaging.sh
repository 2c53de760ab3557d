#!/usr/bin/env bash
# Lint of the Spack recipe and the Apptainer definition (packaging/; neither tool is installed here):
# the recipe is valid Python that builds and installs with the Makefile's own targets and variables;
# the definition builds with `make deps`, `make` and `make install`; every Makefile variable and
# target they name exists.
source tests/cli/lib.sh
RECIPE=packaging/spack/packages/maskdit-c/package.py
DEF=packaging/apptainer/maskdit.def

if python3 - "$RECIPE" <<'PY'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
cls = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MaskditC"]
assert cls, "no class MaskditC"
assert any(getattr(b, "id", None) == "MakefilePackage" for b in cls[0].bases), "MaskditC is not a MakefilePackage"
methods = {n.name for n in cls[0].body if isinstance(n, ast.FunctionDef)}
assert {"build", "install"} <= methods, "build/install missing: %s" % methods
PY
then pass spack_recipe_parses; else fail spack_recipe_parses "see above"; fi

# Makefile variables the recipe sets (NAME=...) must be read by the Makefile.
unknown=$(grep -o '"[A-Z_0-9]*=' "$RECIPE" | tr -d '"=' | sort -u | while read -r v; do
    grep -q "\$($v)" Makefile || echo "$v"; done)
[ -z "$unknown" ] && pass spack_recipe_variables || fail spack_recipe_variables "not Makefile variables: $unknown"
grep -q 'make("install"' "$RECIPE" && pass spack_recipe_installs || fail spack_recipe_installs "no make(\"install\", ...)"

missing=$(for s in '^Bootstrap:' '^From:' '^%post' '^%environment' '^%runscript' 'make deps' 'make install' 'MASKDIT_HOME='; do
    grep -q -- "$s" "$DEF" || echo "$s"; done)
[ -z "$missing" ] && pass apptainer_sections || fail apptainer_sections "missing in $DEF: $missing"
# Every make target that %post runs exists (make -n knows it), without building anything.
bad=$(awk '/^%/ { post = ($1 == "%post") } post' "$DEF" | grep -o '^ *make [a-z][a-z]*' | awk '{print $2}' | sort -u | while read -r t; do
    make -n "$t" CONFIG_MK="$TMP/c.mk" PREFIX="$TMP/p" >/dev/null 2>&1 || echo "$t"; done)
[ -z "$bad" ] && pass apptainer_targets || fail apptainer_targets "targets make does not know: $bad"
