// Package controllers holds one reconciler per fleetwave kind. They are thin: each reads its object,
// makes sure of its finalizer, observes the Update Service, acts, and writes status once at the end;
// manifest building lives in internal/manifest and the Update Service client in internal/pelion.
//
// Every reconcile ends in one of four ways (see outcome.go): done (Ready=True), stalled (a person
// must act; not retried), waiting (a watch brings it back) or a transient error (retried with
// backoff). Remote objects have deterministic names (RemoteName), so an object whose status was lost
// in a crash adopts what it created instead of creating it twice.
package controllers
