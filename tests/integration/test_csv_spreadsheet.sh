#!/usr/bin/env bash
# The CSV formula guard as a spreadsheet sees it: the chargeback CSV converted by
# LibreOffice headless (Debian's libreoffice-calc-nogui) into a workbook whose cells are
# compared exactly. A team "-ops", a UPN "@bob" and a display name "=HYPERLINK(…)" read as
# that very text, and nothing the sender wrote runs as a formula; guard=none gives the raw
# text (which LibreOffice does run); JSON always carries the raw values.
source "$(dirname "$0")/../lib.sh"
need_env
source "$(dirname "$0")/report_lib.sh"
SOFFICE=$(command -v soffice || command -v libreoffice || true)
if [ -z "$SOFFICE" ]; then
    echo "SKIP: LibreOffice is not installed (Debian package libreoffice-calc-nogui)"
    exit 77
fi
new_db
seed_fixture
long="-$(head -c 299 /dev/zero | tr '\0' x)" # 300 bytes: over Excel's 255 for text in a formula
sql "UPDATE developers SET upn = '@bob', display_name = '=HYPERLINK(\"http://evil\",\"x\")',
         cost_center = '+CC' WHERE oid = 'oid-bob';
     UPDATE developers SET team = '-ops', display_name = '$long' WHERE oid = 'oid-carol'" >/dev/null
report_start
FIN=$(report_token finance fin)
Q="/v1/reports/monthly?month=2026-03&layout=1&price_book=fixture-a"

# cells WORKBOOK: one line per row of sheet 1, "kind:value" cells joined by " | " (kind is
# text, number, or formula — a formula other than a string constant, with its text)
cells() {
    "$PY" - "$1" <<'PY'
import sys, zipfile, xml.etree.ElementTree as ET
M = '{http://schemas.openxmlformats.org/spreadsheetml/2006/main}'
z = zipfile.ZipFile(sys.argv[1])
shared = [''.join(t.text or '' for t in si.iter(M + 't'))
          for si in ET.fromstring(z.read('xl/sharedStrings.xml')).iter(M + 'si')]
for row in ET.fromstring(z.read('xl/worksheets/sheet1.xml')).iter(M + 'row'):
    out = []
    for c in row.iter(M + 'c'):
        t, f, v = c.get('t'), c.find(M + 'f'), c.find(M + 'v')
        v = '' if v is None else v.text or ''
        if t == 's':
            v = shared[int(v)]
        if f is not None and not (f.text or '').startswith('"'):
            out.append('formula:=' + (f.text or ''))
        else:
            out.append(('number:' if t in (None, 'n') else 'text:') + v)
    print(' | '.join(out))
PY
}
# convert CSV: the workbook LibreOffice makes of it, as a spreadsheet user opening it would
convert() {
    local base=${1%.csv}
    timeout 120 "$SOFFICE" -env:UserInstallation="file://$TMP/lo" --headless --convert-to xlsx \
        --outdir "$TMP" "$1" >>"$TMP/soffice.log" 2>&1
    cells "$base.xlsx"
}

GET "$Q&format=csv" "$FIN" >"$TMP/guarded.csv"
assert_eq 200 "$STATUS" "the guarded CSV: 200"
convert "$TMP/guarded.csv" >"$TMP/guarded.cells"
bob=$(grep -a '^text:2026-03 | text:UTC | text:oid-bob |' "$TMP/guarded.cells" | head -1)
assert_eq 'text:2026-03 | text:UTC | text:oid-bob | text:@bob | text:red | text:+CC | text:claude-sonnet-4-6 | number:1 | number:17 | number:66 | number:31 | number:23 | number:19 | number:0.0007764 | text:true' \
    "$(cut -d'|' -f1-15 <<<"$bob" | sed 's/ $//')" "LibreOffice reads @bob and +CC as that text, numbers as numbers"
assert_eq 'text:=HYPERLINK("http://evil","x")' "$(awk -F' [|] ' '{print $NF}' <<<"$bob")" \
    "the display name reads as its text, not a link"
carol=$(grep -a '^text:2026-03 | text:UTC | text:oid-carol |' "$TMP/guarded.cells")
assert_eq 'text:carol@example.com | text:-ops | text:CC-200 | text:claude-opus-4-6
text:carol@example.com | text:-ops | text:CC-200 | text:claude-sonnet-4-6' \
    "$(cut -d'|' -f4-7 <<<"$carol" | sed 's/^ //; s/ $//')" "team -ops reads -ops, not '-ops, on both of carol's rows"
assert_eq "text:'$long" "$(awk -F' [|] ' '{print $NF}' <<<"$carol" | sort -u)" \
    "a value over 255 bytes keeps the leading quote (Excel's limit for text in a formula)"
assert_eq "" "$(grep -o 'formula:[^|]*' "$TMP/guarded.cells")" "no cell of the guarded CSV is a formula"

# guard=none: the bytes as stored, which LibreOffice runs
GET "$Q&format=csv&guard=none" "$FIN" >"$TMP/raw.csv"
assert_eq 200 "$STATUS" "guard=none: 200"
line=$(grep -a '^2026-03,UTC,oid-bob,' "$TMP/raw.csv" | tr -d '\r')
assert_eq '2026-03,UTC,oid-bob,@bob,red,+CC,claude-sonnet-4-6' "$(cut -d, -f1-7 <<<"$line")" "guard=none: raw text cells"
want=',"=HYPERLINK(""http://evil"",""x"")"'
assert_eq "$want" "${line: -${#want}}" "guard=none: the display name as it is"
assert_eq "2026-03,UTC,oid-carol,carol@example.com,-ops" "$(grep -a '^2026-03,UTC,oid-carol,' "$TMP/raw.csv" | cut -d, -f1-5 | sort -u)" \
    "guard=none: team -ops"
convert "$TMP/raw.csv" >"$TMP/raw.cells"
assert_eq 'formula:=HYPERLINK("http://evil","x")' "$(grep -o 'formula:[^|]*' "$TMP/raw.cells" | sed 's/ $//' | sort -u)" \
    "without the guard LibreOffice runs the display name as a formula (why the guard is the default)"
assert_eq "$(grep -vc '^2026-03,UTC,oid-\(bob\|carol\),' "$TMP/raw.csv")" \
    "$(grep -Fxcf <(grep -v '^2026-03,UTC,oid-\(bob\|carol\),' "$TMP/raw.csv") "$TMP/guarded.csv")" \
    "rows without formula-like text are the same bytes either way"
GET "$Q&format=csv&guard=formula" "$FIN" >"$TMP/explicit.csv"
assert_eq "$(sha256sum <"$TMP/guarded.csv")" "$(sha256sum <"$TMP/explicit.csv")" "guard=formula is the default"
GET "$Q&format=csv&guard=off" "$FIN" >/dev/null
assert_eq "400 guard" "$STATUS $(json "j['parameter']")" "guard=off: 400 naming guard"

# JSON carries the raw values, guard or not
GET "$Q" "$FIN" >/dev/null
assert_eq '@bob|+CC|=HYPERLINK("http://evil","x")|-ops' \
    "$(json "'|'.join([[r for r in j['rows'] if r['developer_oid'] == 'oid-bob'][0][k] for k in ('developer_upn', 'cost_center', 'display_name')] + [[r for r in j['rows'] if r['developer_oid'] == 'oid-carol'][0]['team']])")" \
    "JSON: raw values"
finish
