package manifest

import "testing"

func TestEncodeVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{in: "1.2.3", want: 0x80010000020003}, // the value in the Pelion v3 vector
		{in: "0.0.1", want: 1<<55 | 1},
		{in: "999.999.999", want: 1<<55 | 999<<40 | 999<<16 | 999},
		{in: "100.500.0", want: 1<<55 | 100<<40 | 500<<16},
		{in: "0.0.0", wantErr: true},
		{in: "1000.0.0", wantErr: true},
		{in: "01.2.3", wantErr: true},
		{in: "1.2", wantErr: true},
		{in: "1.2.3.4", wantErr: true},
		{in: "1.2.-3", wantErr: true},
		{in: "1..3", wantErr: true},
		{in: "v1.2.3", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := EncodeVersion(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("EncodeVersion(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("EncodeVersion(%q) = %#x, want %#x", tt.in, got, tt.want)
		}
		if tt.wantErr {
			continue
		}
		back, err := DecodeVersion(got)
		if err != nil || back != tt.in {
			t.Errorf("DecodeVersion(%#x) = %q, %v; want %q", got, back, err, tt.in)
		}
	}
}

func TestEncodeVersionOrdersLikeSemver(t *testing.T) {
	ordered := []string{"0.0.1", "0.0.999", "0.1.0", "0.999.999", "1.0.0", "1.2.3", "1.2.10", "1.10.0", "999.999.999"}
	for i := 1; i < len(ordered); i++ {
		a, _ := EncodeVersion(ordered[i-1])
		b, _ := EncodeVersion(ordered[i])
		if a >= b {
			t.Errorf("EncodeVersion(%s) = %#x is not below EncodeVersion(%s) = %#x", ordered[i-1], a, ordered[i], b)
		}
	}
}

func TestDecodeVersionRejectsNonSemver(t *testing.T) {
	for _, v := range []uint64{0, 1, 1700000000, 1 << 55, 1<<55 | 1000} {
		if s, err := DecodeVersion(v); err == nil {
			t.Errorf("DecodeVersion(%#x) = %q, want an error", v, s)
		}
	}
}
