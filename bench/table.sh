# The table's cells, sourced by bench/containers.sh, exec.sh and files.sh once their figures are in
# R[PEER.METRIC] ("median min max"): the best peer of a row, a cell, and a row with Skiff against
# the best other peer. They read the caller's peers, others, LABEL, R, LOGS_TIMEOUT, field and has_peer.
# best PEER... METRIC DIR(low|high) : the peer with the best median among those given
best_of() {
    local metric=$1 dir=$2 p v best="" bestv=""; shift 2
    for p in "$@"; do
        v=${R[$p.$metric]:-}; [ -n "$v" ] || continue
        v=$(field "$v" 1)
        if [ -z "$best" ] || awk -v a="$v" -v b="$bestv" -v d="$dir" 'BEGIN{exit !((d == "low") ? a < b : a > b)}'; then
            best=$p; bestv=$v
        fi
    done
    echo "$best"
}
# cell PEER METRIC FMT SCALE : "median (min-max)" of R[PEER.METRIC] ("median min max ..."), values / SCALE
cell() {
    local v=${R[$1.$2]:-}
    [ -n "$v" ] || { echo "n/a"; return; }
    awk -v s="$v" -v f="$3" -v k="$4" 'BEGIN{n = split(s, a, " ")
        if (n == 1) printf f, a[1] / k; else printf (f " (" f "-" f ")"), a[1] / k, a[2] / k, a[3] / k}'
}
# row TITLE METRIC DIR FMT [SCALE] : one line; the last column is Skiff against the best other peer
row() {
    local title=$1 m=$2 dir=$3 fmt=$4 scale=${5:-1} p c b ratio=""
    printf '%-46s' "$title"
    for p in "${peers[@]}"; do
        c=$(cell "$p" "$m" "$fmt" "$scale")
        if [ "$p" = "$(best_of "$m" "$dir" "${peers[@]}")" ] && [ ${#peers[@]} -gt 1 ]; then c+=" *"; fi
        if [ "$m" = logs ] && [ -n "${R[$p.logs_timeout]:-}" ]; then c="> ${LOGS_TIMEOUT} s"; fi
        printf '%-30s' "$c"
    done
    if has_peer skiff && [ -n "${R[skiff.$m]:-}" ] && [ ${#others[@]} -gt 0 ]; then
        b=$(best_of "$m" "$dir" "${others[@]}")
        if [ -n "$b" ]; then
            ratio=$(awk -v a="$(field "${R[skiff.$m]}" 1)" -v b="$(field "${R[$b.$m]}" 1)" -v d="$dir" -v n="${LABEL[$b]%% *}" \
                'BEGIN{ if (d == "low") printf "%.3fx of %s", (b > 0 ? a / b : 0), n; else printf "%.2fx %s", (b > 0 ? a / b : 0), n }')
        fi
    fi
    printf '%s\n' "$ratio"
}
