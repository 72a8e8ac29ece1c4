package main

// GET /v1/stats: every counter the site keeps, for repadmin stat. The
// names are derived from the Stats structs of env and env/site, so a counter added there
// shows up here without a change.

import (
	"net/http"
	"reflect"
	"strings"
	"unicode"

	"logship/cmd/internal/api"
	"logship/wal/lsn"
)

func (n *node) handleStats(w http.ResponseWriter, r *http.Request) {
	out := api.Stats{ID: n.cfg.ID, Replication: statMap(n.site.Stats()), Env: statMap(n.env.Stats())}
	if n.cfg.Mode() == ModeElect {
		out.Election = statMap(n.site.ElectStats())
	}
	writeJSON(w, http.StatusOK, out)
}

var lsnType = reflect.TypeFor[lsn.LSN]()

// statMap flattens a stats struct (and the structs it embeds) into
// snake_case name → number, or LSN string. Slices (histogram buckets) are
// left to /metrics.
func statMap(v any) map[string]any {
	out := map[string]any{}
	var walk func(rv reflect.Value)
	walk = func(rv reflect.Value) {
		rt := rv.Type()
		for i := range rt.NumField() {
			f, fv := rt.Field(i), rv.Field(i)
			if !f.IsExported() {
				continue
			}
			switch {
			case f.Type == lsnType:
				out[snake(f.Name)] = fv.Interface().(lsn.LSN).String()
			case f.Anonymous && f.Type.Kind() == reflect.Struct:
				walk(fv)
			case fv.CanUint():
				out[snake(f.Name)] = fv.Uint()
			case fv.CanInt():
				out[snake(f.Name)] = fv.Int()
			case fv.CanFloat():
				out[snake(f.Name)] = fv.Float()
			}
		}
	}
	walk(reflect.ValueOf(v))
	return out
}

// snake turns a Go field name into snake_case, keeping initialisms
// whole: MaxPermLSN → max_perm_lsn, MsgsBadGen → msgs_bad_gen.
func snake(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prevLower := unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || unicode.IsUpper(rs[i-1]) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
