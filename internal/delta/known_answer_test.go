package delta

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

// armExample is the patch Arm's generator (manifest-tool's armbsdiff, block 512) writes for old 01
// and new 01 02 03: the worked example of the arm-patch-stream reference (§11).
const armExample = `
	50454c494f4e2f425344494646303031
	0300000000000000
	0002000000000000
	0300000000000000
	010203
	021000
	03200203`

func hexBytes(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestCreateMatchesArmGenerator(t *testing.T) {
	want := hexBytes(t, armExample)
	got := mustCreate(t, []byte{1}, []byte{1, 2, 3}, 512)
	if !bytes.Equal(got, want) {
		t.Fatalf("Create = %x\nArm's generator wrote %x", got, want)
	}
}

func TestApplyArmGeneratorPatch(t *testing.T) {
	got, err := ApplyBytes([]byte{1}, hexBytes(t, armExample), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Fatalf("applied = %x, want 010203", got)
	}
}

// The varint examples of the reference (§3.2): LEB128 unsigned, sign-magnitude signed (not zigzag).
func TestVarintEncodings(t *testing.T) {
	unsigned := map[uint64]string{0: "00", 1: "01", 127: "7f", 128: "8001", 300: "ac02"}
	for v, want := range unsigned {
		if got := hex.EncodeToString(appendUvarint(nil, v)); got != want {
			t.Errorf("uvarint %d = %s, want %s", v, got, want)
		}
		back, err := readUvarint(bytes.NewReader(hexBytes(t, want)))
		if err != nil || back != v {
			t.Errorf("read uvarint %s = %d, %v; want %d", want, back, err, v)
		}
	}
	signed := map[int64]string{0: "00", 1: "02", -1: "03", 2: "04", -600: "b109"}
	for v, want := range signed {
		if got := hex.EncodeToString(appendSvarint(nil, v)); got != want {
			t.Errorf("svarint %d = %s, want %s", v, got, want)
		}
		back, err := readSvarint(bytes.NewReader(hexBytes(t, want)))
		if err != nil || back != v {
			t.Errorf("read svarint %s = %d, %v; want %d", want, back, err, v)
		}
	}
}

// The device reads forms Arm's generator never writes: negative zero, and non-minimal varints up to
// seven bytes. An eighth byte is refused, and a varint cut short is the reader's end of input.
func TestVarintDeviceForms(t *testing.T) {
	cases := []struct {
		in      string
		want    int64
		wantErr error
	}{
		{"01", 0, nil},                     // negative zero
		{"8200", 1, nil},                   // +1 with a redundant continuation group
		{"82808080808000", 1, nil},         // +1 in seven bytes
		{"8280808080808000", 0, ErrVarint}, // eight
		{"8280", 0, io.EOF},
	}
	for _, c := range cases {
		got, err := readSvarint(bytes.NewReader(hexBytes(t, c.in)))
		if !errors.Is(err, c.wantErr) || got != c.want {
			t.Errorf("%s: got %d, %v; want %d, %v", c.in, got, err, c.want, c.wantErr)
		}
	}
}
