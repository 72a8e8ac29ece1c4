package lsn

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestCompareOrdersByFileThenOffset(t *testing.T) {
	tests := []struct {
		name string
		a, b LSN
		want int
	}{
		{"equal", New(3, 4096), New(3, 4096), 0},
		{"lower offset", New(3, 10), New(3, 4096), -1},
		{"higher offset", New(3, 5000), New(3, 4096), 1},
		{"lower file beats higher offset", New(2, 9999999), New(3, 0), -1},
		{"higher file", New(4, 0), New(3, 9999999), 1},
		{"zero before all", Zero, New(1, 0), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := tt.b.Compare(tt.a); got != -tt.want {
				t.Errorf("%v.Compare(%v) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
			if got := tt.a.Less(tt.b); got != (tt.want < 0) {
				t.Errorf("%v.Less(%v) = %v", tt.a, tt.b, got)
			}
		})
	}
}

func TestMinMax(t *testing.T) {
	a, b := New(1, 500), New(2, 16)
	if Max(a, b) != b || Max(b, a) != b || Min(a, b) != a || Min(b, a) != a {
		t.Fatalf("Min/Max wrong for %v %v", a, b)
	}
}

func TestStringParseRoundTrip(t *testing.T) {
	for _, l := range []LSN{Zero, New(1, 32), New(3, 4096), New(4294967295, 4294967295)} {
		s := l.String()
		got, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if got != l {
			t.Fatalf("Parse(%q) = %v, want %v", s, got, l)
		}
	}
	if s := New(3, 4096).String(); s != "3/4096" {
		t.Fatalf("String = %q, want 3/4096", s)
	}
}

func TestAppendTextAppends(t *testing.T) {
	got := New(4294967295, 7).AppendText([]byte("at "))
	if string(got) != "at 4294967295/7" {
		t.Fatalf("AppendText = %q", got)
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	for _, s := range []string{"", "3", "3/", "/4096", "a/1", "1/b", "-1/2", "1/2/3", "4294967296/0", " 1/2"} {
		if _, err := Parse(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) err = %v, want ErrSyntax", s, err)
		}
	}
}

func TestJSONUsesSlashForm(t *testing.T) {
	b, err := json.Marshal(struct{ L LSN }{New(7, 12)})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"L":"7/12"}` {
		t.Fatalf("json = %s", b)
	}
	var v struct{ L LSN }
	if err := json.Unmarshal(b, &v); err != nil || v.L != New(7, 12) {
		t.Fatalf("unmarshal = %v, %v", v.L, err)
	}
	if err := json.Unmarshal([]byte(`{"L":"x"}`), &v); err == nil {
		t.Fatal("unmarshal of bad LSN succeeded")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"3/4096", "0/0", "1/", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(l.String())
		if err != nil || again != l {
			t.Fatalf("round trip of %q: %v %v", s, again, err)
		}
	})
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b LSN
		want int64
	}{
		{New(1, 100), New(1, 100), 0},
		{New(2, 0), New(1, 500), 0},         // b before a
		{New(1, 100), New(1, 350), 250},     // one file
		{New(1, 900), New(2, 50), 100 + 50}, // rest of file 1, then 50
		{New(1, 900), New(4, 10), 100 + 2*1000 + 10},
		{New(1, 1200), New(2, 10), 10}, // a past a full file: no negative rest
	} {
		if got := Distance(c.a, c.b, 1000); got != c.want {
			t.Errorf("Distance(%v, %v, 1000) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
