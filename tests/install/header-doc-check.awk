# Usage: awk -f tests/install/header-doc-check.awk include/aigw.h
#
# Every function prototype, typedef, struct field and enum value in the
# generated header must have a `//` doc comment on the line right before it
# (cbindgen turns Rust `///` doc comments into those). Prints one line per
# missing comment ("aigw.h:LINE: what"), then "N passed, N failed" for the
# items checked, and exits 1 if any lacks one.

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }

# checks item `what` against the previous non-blank line.
function need_doc(what) {
    if (prev ~ /^[ \t]*\/\//) {
        passed++
    } else {
        failed++
        printf "%s:%d: no doc comment before %s\n", FILENAME, FNR, what
    }
}

BEGIN { passed = 0; failed = 0; body = ""; in_proto = 0 }

{
    line = $0
    t = trim(line)
}

# Inside a multi-line prototype: skip its continuation lines.
in_proto {
    if (t ~ /\);$/) in_proto = 0
    prev = line
    next
}

# The end of a struct or enum body.
body != "" && t ~ /^}/ { body = ""; prev = line; next }

# A struct field or enum value.
body != "" && t != "" && t !~ /^\/\// && t !~ /^#/ {
    what = t
    sub(/[;,]$/, "", what)
    need_doc(body " member `" what "`")
    prev = line
    next
}

# typedef struct X { / typedef enum X {: the typedef itself, then its body.
t ~ /^typedef (struct|enum) [A-Za-z_0-9]+ \{$/ {
    split(t, w, " ")
    need_doc("typedef " w[3])
    body = w[3]
    prev = line
    next
}

# Other typedefs: opaque structs, callbacks.
t ~ /^typedef / {
    what = t
    if (match(t, /\(\*[A-Za-z_0-9]+\)/)) what = substr(t, RSTART + 2, RLENGTH - 3)
    else { n = split(t, w, /[ ;]+/); what = w[n - 1] }
    need_doc("typedef " what)
    prev = line
    next
}

# A function prototype (possibly over several lines).
t ~ /^[A-Za-z_].*[ *]aigw_[A-Za-z_0-9]+\(/ {
    match(t, /aigw_[A-Za-z_0-9]+\(/)
    need_doc("function " substr(t, RSTART, RLENGTH - 1))
    if (t !~ /\);$/) in_proto = 1
    prev = line
    next
}

# The public macros (AIGW_VERSION...).
t ~ /^#define AIGW_/ && t !~ /^#define AIGW_H$/ {
    split(t, w, " ")
    need_doc("macro " w[2])
    prev = line
    next
}

t != "" { prev = line }

END {
    printf "%d passed, %d failed\n", passed, failed
    exit failed ? 1 : 0
}
