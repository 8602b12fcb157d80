#!/usr/bin/env bash
# Runs mpirun across two "hosts" on this machine: two network namespaces joined by a veth pair
# (10.231.X.1 and 10.231.X.2), rank 0 in the first, rank 1 in the second, started there by
# an rsh agent that enters the namespace in place of ssh. OpenMPI's TCP transport carries
# everything between them, as between two machines; the file system is shared.
#   bash tests/two_hosts.sh MPIRUN_ARGS...   (needs root: ip netns, ip link)
# Exit status: mpirun's; 77 when namespaces cannot be made here (the caller skips).
set -uo pipefail
tag=$$
subnet=$((tag % 200 + 20))
h1="mosaic-h1-$tag" h2="mosaic-h2-$tag" a="10.231.$subnet.1" b="10.231.$subnet.2"
work=$(mktemp -d)
cleanup() { ip netns del "$h1" 2>/dev/null; ip netns del "$h2" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if ! ip netns add "$h1" 2>"$work/err" || ! ip netns add "$h2" 2>>"$work/err" ||
   ! ip link add "mv$tag" type veth peer name "mw$tag" 2>>"$work/err"; then
  echo "two_hosts: cannot make network namespaces here: $(head -1 "$work/err")" >&2
  exit 77
fi
ip link set "mv$tag" netns "$h1" && ip link set "mw$tag" netns "$h2" &&
  ip -n "$h1" addr add "$a/24" dev "mv$tag" && ip -n "$h2" addr add "$b/24" dev "mw$tag" &&
  ip -n "$h1" link set "mv$tag" up && ip -n "$h2" link set "mw$tag" up &&
  ip -n "$h1" link set lo up && ip -n "$h2" link set lo up || exit 77
cat >"$work/agent" <<AGENT
#!/bin/sh
# mpirun's remote shell: "agent HOST COMMAND..." runs COMMAND in HOST's namespace
host="\$1"; shift
case "\$host" in $a) ns=$h1 ;; $b) ns=$h2 ;; *) echo "agent: unknown host \$host" >&2; exit 1 ;; esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x "$work/agent"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ip netns exec "$h1" mpirun --host "$a:1,$b:1" --mca plm_rsh_agent "$work/agent" --mca btl tcp,self \
  --mca btl_tcp_if_include "10.231.$subnet.0/24" --mca oob_tcp_if_include "10.231.$subnet.0/24" "$@"
