-- Abort the campaign: set status.abort. Argo CD sends the change to the status subresource.
obj.status = obj.status or {}
obj.status.abort = true
return obj
