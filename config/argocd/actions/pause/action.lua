-- Pause the campaign: set spec.paused. Under auto-sync with self-heal, Argo CD puts back the value
-- Git holds when Git sets spec.paused; pause with a commit there.
obj.spec.paused = true
return obj
