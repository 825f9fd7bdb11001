package controllers

import (
	"errors"
	"testing"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

func TestEncryptedDatafileRefusesAnImageStoredOtherwiseThanAsked(t *testing.T) {
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	encrypted := pelion.FirmwareImage{ID: "i1", DatafileEncryption: true, EncryptedDatafileChecksum: sum, EncryptedDatafileSize: 1032}
	tests := []struct {
		name    string
		encrypt bool
		remote  pelion.FirmwareImage
		want    *v1.EncryptedDatafile
		refused bool
	}{
		{"plain as asked", false, pelion.FirmwareImage{ID: "i1"}, nil, false},
		{"encrypted as asked", true, encrypted, &v1.EncryptedDatafile{SHA256: sum, Size: 1032}, false},
		{"not encrypted though asked", true, pelion.FirmwareImage{ID: "i1"}, nil, true},
		{"flagged but without the encrypted datafile", true, pelion.FirmwareImage{ID: "i1", DatafileEncryption: true}, nil, true},
		{"encrypted unasked", false, encrypted, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := &v1.FirmwareImage{Spec: v1.FirmwareImageSpec{Encrypt: tt.encrypt}}
			got, err := encryptedDatafile(img, &tt.remote)
			var st *stalledError
			if refused := errors.As(err, &st) && st.reason == v1.ReasonEncryptionUnsupported; refused != tt.refused || (err != nil && !tt.refused) {
				t.Fatalf("error %v, want refused %v", err, tt.refused)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
