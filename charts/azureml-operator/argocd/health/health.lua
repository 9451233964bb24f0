-- Argo CD health check for every azureml.dev kind (Workspace, ModelSubscription, ServerlessEndpoint,
-- DataAsset, FineTuneJob, OnlineEndpoint, OnlineDeployment).
--
-- argocd-cm.yaml and argo-cd-values.yaml beside this folder carry it once per kind; they are
-- generated from this file (`python -m azureml_standins.argocd`), and a unit test fails while they
-- differ from it.
--
-- One script for every kind, because every kind keeps the same contract (docs/conditions.md): a
-- Ready condition in the metav1.Condition shape (reason, message, observedGeneration) and
-- status.observedGeneration, written together in one status patch, with reasons that mean the same
-- thing whichever kind reports them. FineTuneJob's status.phase is Azure's own word for the job;
-- Ready already says what it means (Queued, Running, JobFailed, JobCanceled, Succeeded), so the
-- phase is not read here.
--
-- Argo CD runs this in gopher-lua (Lua 5.1) with only the base and table libraries (and a trimmed
-- os, not used here): there is no string library, so values are only compared, measured with # and
-- joined with .. (no string.*, no ("x"):lower()).
--
-- Argo CD itself answers Progressing "Pending deletion" for an object being deleted without running
-- a custom check; the deletion branch below gives the same answer, and says when a person is needed,
-- for any other reader of this script.

local POLICY = "azureml.dev/reconcile-policy"

-- What each Ready reason of operator/azureml_operator/conditions.py means here:
--   ready      Ready=True: Healthy once the current generation is observed
--   transient  the operator gets there by itself, polling: Progressing
--   terminal   only a person can move it on (a spec, credential or Azure-side change): Degraded
--   paused     someone paused it on purpose: Suspended
-- A unit test fails when conditions.py has a reason this table does not decide, or decides a
-- transient one otherwise. A reason this table does not know (an operator newer than this script)
-- follows the operator's own rule: Ready=False is transient only when listed, so it is Degraded.
-- Global, so that the tests can read it.
REASONS = {
  Succeeded = "ready",
  NotRequired = "ready",
  Creating = "transient",
  Updating = "transient",
  Deleting = "transient",
  WaitingForSubscription = "transient",
  WaitingForWorkspace = "transient",
  WaitingForData = "transient",
  WaitingForModel = "transient",
  WaitingForEndpoint = "transient",
  TrafficPending = "transient",
  Queued = "transient",
  Running = "transient",
  Throttled = "transient",
  AzureUnavailable = "transient",
  InvalidSpec = "terminal",
  CredentialRejected = "terminal",
  WorkspaceNotFound = "terminal",
  ModelNotFound = "terminal",
  SubscriptionMissing = "terminal",
  SubscriptionInactive = "terminal",
  NameTaken = "terminal",
  QuotaExceeded = "terminal",
  Conflict = "terminal",
  ProvisioningFailed = "terminal",
  AzureRejected = "terminal",
  KubernetesForbidden = "terminal",
  DeletionBlocked = "terminal",
  JobFailed = "terminal",
  -- Canceled in Azure, by a person or a policy there. Not Suspended: nothing resumes a canceled
  -- job. Not Healthy: it will never register its model, so a ServerlessEndpoint that serves it waits
  -- for ever. A FineTuneJob is immutable once submitted: going on means a new object, which only a
  -- person can make; and a Degraded object fails the sync that waits on it instead of holding it.
  JobCanceled = "terminal",
  -- `azureml.dev/reconcile-policy: skip`, as the operator reports it (Ready=Unknown).
  ReconcileSkipped = "paused",
  -- No kind rolls out in steps yet; one that pauses between steps is to report this reason.
  RolloutPaused = "paused",
}

local function health(status, message)
  return { status = status, message = message }
end

-- "Reason: message", as `kubectl describe` shows a condition.
local function said(condition)
  local reason = condition.reason
  if type(reason) ~= "string" or #reason == 0 then
    reason = "Ready is " .. tostring(condition.status)
  end
  local message = condition.message
  if type(message) ~= "string" or #message == 0 then
    return reason
  end
  return reason .. ": " .. message
end

local function ready_condition(status)
  if type(status.conditions) ~= "table" then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if type(condition) == "table" and condition.type == "Ready" then
      return condition
    end
  end
  return nil
end

-- Generations arrive as numbers (JSON integers); tonumber also takes one quoted as a string.
local function stale(meta, status, ready)
  local generation = tonumber(meta.generation)
  if generation == nil then
    return "Waiting for metadata.generation, to compare status.observedGeneration with"
  end
  local wanted = "Waiting for the operator to observe generation " .. tostring(generation)
  local observed = tonumber(status.observedGeneration)
  if observed == nil then
    return wanted
  end
  if observed ~= generation then
    return wanted .. " (status is of generation " .. tostring(observed) .. ")"
  end
  if ready.observedGeneration ~= nil then
    local ready_observed = tonumber(ready.observedGeneration)
    if ready_observed ~= generation then
      return wanted .. " (Ready is of generation " .. tostring(ready.observedGeneration) .. ")"
    end
  end
  return nil
end

local function check(object)
  if type(object) ~= "table" then
    return health("Unknown", "No object to assess")
  end
  local meta = object.metadata
  if type(meta) ~= "table" then
    meta = {}
  end
  local status = object.status
  if type(status) ~= "table" or next(status) == nil then
    status = nil
  end
  local ready = nil
  if status ~= nil then
    ready = ready_condition(status)
  end

  if meta.deletionTimestamp ~= nil then
    if ready ~= nil and ready.reason == "DeletionBlocked" then
      return health("Degraded", said(ready))
    end
    if ready ~= nil and ready.reason == "Deleting" then
      return health("Progressing", "Pending deletion: " .. said(ready))
    end
    return health("Progressing", "Pending deletion")
  end

  -- `skip` is Suspended, not Healthy or Progressing: a person told the operator to leave the Azure
  -- resource alone, so nobody is making Azure match the spec (Healthy would claim it does) and
  -- nothing will until the annotation goes (Progressing would promise it). That is Argo CD's
  -- Suspended, as for a paused Deployment: it holds later sync waves as a paused rollout does.
  -- The annotation is read before the operator reports ReconcileSkipped; without a string library
  -- only this exact spelling is recognised here, and any other the operator accepts (" Skip ")
  -- becomes Suspended once it reports ReconcileSkipped. `detach` still manages the resource.
  local annotations = meta.annotations
  if type(annotations) == "table" and annotations[POLICY] == "skip" then
    if ready ~= nil and ready.reason == "ReconcileSkipped" then
      return health("Suspended", said(ready))
    end
    return health("Suspended", POLICY .. " is skip: the operator does not touch Azure for this object")
  end

  if status == nil then
    return health("Progressing", "Waiting for the operator to report a status")
  end
  if ready == nil then
    return health("Progressing", "Waiting for the operator to report a Ready condition")
  end
  local waiting = stale(meta, status, ready)
  if waiting ~= nil then
    return health("Progressing", waiting)
  end

  local class = REASONS[ready.reason]
  if class == "paused" then
    return health("Suspended", said(ready))
  end
  if ready.status == "True" then
    return health("Healthy", said(ready))
  end
  if ready.status == "False" then
    if class == "transient" then
      return health("Progressing", said(ready))
    end
    return health("Degraded", said(ready))
  end
  -- Ready=Unknown: the operator has not concluded yet.
  return health("Progressing", said(ready))
end

hs = check(obj)
return hs
