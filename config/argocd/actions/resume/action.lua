-- Resume the campaign: remove spec.paused (false is its default). Under auto-sync with self-heal,
-- Argo CD puts back the value Git holds when Git sets spec.paused; resume with a commit there.
obj.spec.paused = nil
return obj
