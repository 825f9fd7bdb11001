// Package rollout is the pure wave planner of an UpdateCampaign: it splits a device fleet into waves,
// and decides, from what a controller observed, what the rollout does next.
//
// It does no I/O, starts no goroutines and reads no clock: device ids, counts and the current time come
// in as arguments, decisions go out as values. That keeps every rule testable by table and by
// simulation, and keeps the controller a thin loop:
//
//  1. Plan, once, before the first wave starts. A device's place in the campaign is Point(uid, id), a
//     hash, so its wave can be recomputed after any restart from the Plan alone. The Partitioner turns
//     one streaming pass over the fleet's points into a Plan whose waves hold exactly the planned
//     numbers of devices, holding 8 bytes a device; it also tells which devices may fall in the first
//     wave, so a controller can keep those and start the first wave without another pass:
//
//     p := rollout.NewPartitioner(waves, maxDevices)
//     for each device: if p.Add(rollout.Point(uid, id)) { keep it }; now and then drop those !p.MayBeFirst
//     plan, err := p.Plan() // p.HoldsFirstWave(): the kept devices hold the whole first wave
//
//  2. Gate, on every reconcile. Next reads the waves, the plan, each wave's recorded progress and the
//     people's requests (pause, approve a wave to start, accept a failed wave's result, abort, retry),
//     and returns one Step: an Action to carry out, the campaign's Phase and condition Reason, and
//     RecheckAt, when time alone changes the decision. The controller carries the action out, records
//     it, and calls Next again until the Action is None or Complete.
package rollout
