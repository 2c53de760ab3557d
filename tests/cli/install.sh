#!/usr/bin/env bash
# The build's settings and `make install`: a build that finds parallel HDF5 through HDF5_DIR when its
# pkg-config package and h5pcc are hidden, with the setting remembered in the config file; an error
# naming HDF5_DIR when nothing finds it; an install into a temporary PREFIX under DESTDIR whose job
# template, run from elsewhere, finds its library and programs through the prefix.
source tests/cli/lib.sh
CONF=$TMP/config.mk
# A parallel HDF5 installed as a prefix with include/ and lib/ (Debian's Open MPI build is one).
hdf5_dir=/usr/lib/$(gcc -print-multiarch 2>/dev/null)/hdf5/openmpi
if [ -f "$hdf5_dir/include/hdf5.h" ] && [ -d "$hdf5_dir/lib" ]; then
    out=$(make -n -W src/util/h5util.c build/src/util/h5util.o CONFIG_MK="$CONF" V=1 CUDA=0 HDF5_PKG=hidden H5PCC=hidden \
        HDF5_DIR="$hdf5_dir" 2>&1)
    [[ $out == *"-I$hdf5_dir/include"* ]] && pass hdf5_dir || fail hdf5_dir "$out"
    grep -qx "HDF5_DIR := $hdf5_dir" "$CONF" && pass settings_remembered || fail settings_remembered "$(cat "$CONF" 2>&1)"
    out=$(make -n -W src/util/h5util.c build/src/util/h5util.o CONFIG_MK="$CONF" V=1 2>&1)
    [[ $out == *"-I$hdf5_dir/include"* ]] && pass settings_reused || fail settings_reused "$out"
else
    skip hdf5_dir "no parallel HDF5 prefix at $hdf5_dir to point HDF5_DIR at"
fi
expect_error hdf5_missing "set HDF5_DIR=" make -n all CONFIG_MK="$TMP/none.mk" CUDA=0 HDF5_PKG=hidden H5PCC=hidden HDF5_DIR="$TMP/nothing"

# install: programs, templates, configs, docs; the template finds common.sh and bin/ by PREFIX. With
# the CUDA setting of the programs already built (build/.cuda-N), so that nothing is rebuilt.
built_cuda=$(ls build/.cuda-* 2>/dev/null | sed -n 's/.*-//p')
make -s install CONFIG_MK="$TMP/install.mk" ${built_cuda:+CUDA=$built_cuda} PREFIX=/opt/maskdit DESTDIR="$TMP/dest" >"$TMP/install.log" 2>&1 || fail install "$(tail -n 5 "$TMP/install.log")"
root=$TMP/dest/opt/maskdit
missing=$(for f in bin/maskdit-train bin/maskdit-generate share/maskdit/jobs/lib/common.sh share/maskdit/jobs/train256.slurm \
    share/maskdit/configs share/maskdit/docs/slurm.md share/maskdit/docs/INSTALL.md; do [ -e "$root/$f" ] || echo "$f"; done)
[ -z "$missing" ] && pass install_files || fail install_files "not installed: $missing"
grep -q '^MASKDIT_HOME=${MASKDIT_HOME:-/opt/maskdit}$' "$root/share/maskdit/jobs/train256.slurm" && pass install_home_default ||
    fail install_home_default "$(grep -n MASKDIT_HOME= "$root/share/maskdit/jobs/train256.slurm")"
# Run from an unrelated directory with MASKDIT_HOME at the (DESTDIR-staged) prefix: the template
# loads the installed common.sh, which looks for the installed programs and stops on the missing config.
out=$(cd "$TMP" && env -u OMP_NUM_THREADS SLURM_JOB_ID=1 SLURM_NTASKS=1 MASKDIT_HOME="$root" MASKDIT_CONFIG="$TMP/none.yaml" \
    bash "$root/share/maskdit/jobs/train256.slurm" 2>&1)
[[ $out == *"MASKDIT_CONFIG=$TMP/none.yaml: no such file"* ]] && pass install_template_runs || fail install_template_runs "$out"
