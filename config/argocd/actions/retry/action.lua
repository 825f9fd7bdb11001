-- Retry the current wave: raise status.attempt and clear status.abort. Argo CD sends the change to
-- the status subresource as a merge patch without a resourceVersion, so a retry made with kubectl
-- in the same instant can be lost rather than counted twice.
obj.status = obj.status or {}
obj.status.attempt = (obj.status.attempt or 0) + 1
obj.status.abort = nil
return obj
