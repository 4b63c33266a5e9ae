using StackExchange.Redis;
using TStitch.Contracts;
using TStitch.Hosting.Errors;

namespace TStitch.Orchestration;

/// <summary>
/// Jobs as Redis hashes ("tstitch:job:{id}"), unfinished ids in the set "tstitch:jobs:unfinished",
/// cross-orchestrator cancel requests as "tstitch:job:{id}:cancel". Every write is one Lua script that
/// checks the fields it depends on and writes in the same step (Redis runs a script atomically), so
/// creation is idempotent, claims are exclusive and an orchestrator that lost a job can no longer write
/// it, in one round trip (a WATCH/MULTI transaction takes two, and a claim read first took three).
/// StackExchange.Redis sends a script by its SHA1 once the server has seen it. Finished jobs expire after
/// the configured TTL. Redis failures surface as <see cref="FailureKind.StoreUnavailable"/>.
/// A write's tensors (checkpoint latents, result samples and PNG) do not pass through the script: see
/// <see cref="DataKey"/>.
/// </summary>
public sealed class RedisJobStore(IConnectionMultiplexer redis, TimeSpan finishedTtl, TimeProvider time) : IJobStore
{
    private const string KeyPrefix = "tstitch:job:";
    private const string UnfinishedKey = "tstitch:jobs:unfinished";
    private static readonly RedisValue[] SummaryFields =
        ["spec", "status", "step", "steps", "calls", "error", "failure", "schedule", "resumed_from_step", "owner", "lease_until",
            "created", "updated", "sample_shape"];

    /// <summary>The tensor fields of a job, kept in its data key (older records held them in the job's hash).</summary>
    private static readonly string[] DataFields = ["latents", "prev_x0", "png", "samples"];

    /// <summary>
    /// The write both scripts end with. KEYS: the job's hash, the unfinished set, the write's data key
    /// (<see cref="DataKey"/>; the job's hash again when the write has no tensors). ARGV: job id, "1" if the
    /// job is finished, the finished TTL in ms, the expected owner, the data key or "", then field/value
    /// pairs. A finished job leaves the unfinished set, its lease ends with it and it expires (its data with
    /// it); an unfinished one (perhaps requeued after it had finished) must not expire while it runs again.
    /// The job points at its new data and the data it pointed at before is deleted in the same step, so a
    /// reader never sees a step with another write's tensors. That old key is read from the hash, not passed
    /// in KEYS (the writer does not know it without a read first); the store runs on a single Redis, not Redis
    /// Cluster (the unfinished set is another slot anyway). A refused write deletes the data it was sent with.
    /// A write whose data key is not there (its HSET failed, or it was evicted) changes nothing and answers -1:
    /// pointing the job at it would drop the checkpoint it had.
    /// </summary>
    private static readonly string WriteFields = $$"""
        local function write()
          if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
          local old = redis.call('HGET', KEYS[1], 'data')
          redis.call('HSET', KEYS[1], 'data', ARGV[5], unpack(ARGV, 6))
          redis.call('HDEL', KEYS[1], {{string.Join(", ", DataFields.Select(f => $"'{f}'"))}})
          if old and old ~= '' and old ~= ARGV[5] then redis.call('DEL', old) end
          if ARGV[2] == '1' then
            redis.call('SREM', KEYS[2], ARGV[1])
            redis.call('HSET', KEYS[1], 'lease_until', 0)
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
            if ARGV[5] ~= '' then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
          else
            redis.call('SADD', KEYS[2], ARGV[1])
            redis.call('PERSIST', KEYS[1])
            if ARGV[5] ~= '' then redis.call('PERSIST', KEYS[3]) end
          end
          return 1
        end
        local function refuse()
          if ARGV[5] ~= '' then redis.call('DEL', KEYS[3]) end
          return 0
        end

        """;
    private static readonly string CreateScript =
        WriteFields + "if redis.call('EXISTS', KEYS[1]) == 1 then return refuse() end\nreturn write()";
    private static readonly string SaveScript =
        WriteFields + "if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[4] then return refuse() end\nreturn write()";

    /// <summary>
    /// Where one write's tensors go: a hash of their own, named for that write, written with plain HSET in
    /// the same pipeline just before the script that points the job at it. Redis copies a Lua script's
    /// arguments into Lua strings and back, so a 786 KB latent batch passed through the script cost 1.3 ms
    /// a write against 0.5 ms as a plain HSET (batch 64 on the bench machine, docs/benchmarks.md); the
    /// script's checks stay atomic because nothing refers to the new key until the script does.
    /// </summary>
    private static string DataKey(string id) => $"{KeyPrefix}{id}:data:{Guid.NewGuid():N}";

    /// <summary>
    /// How long a data key lives if its script never runs (the connection dropped between the two): the
    /// script itself makes it persist or expire with the job at once.
    /// </summary>
    private static readonly TimeSpan UnclaimedDataTtl = TimeSpan.FromMinutes(10);

    /// <summary>ARGV: owner, lease end (ms), now (ms, the caller's clock, as for every lease), the final statuses as ",n,m,".</summary>
    private const string ClaimScript = """
        local v = redis.call('HMGET', KEYS[1], 'owner', 'lease_until', 'status')
        if not v[3] or string.find(ARGV[4], ',' .. v[3] .. ',', 1, true) then return 0 end
        if (v[1] or '') ~= ARGV[1] and tonumber(v[2] or '0') > tonumber(ARGV[3]) then return 0 end
        redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'lease_until', ARGV[2])
        return 1
        """;
    private const string ReleaseScript = """
        if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[1], 'lease_until', 0)
        return 1
        """;
    private static readonly string FinalStatuses =
        "," + string.Join(",", Enum.GetValues<JobStatus>().Where(JobRecord.IsFinal).Select(s => (int)s)) + ",";

    private IDatabase Db => redis.GetDatabase();

    public Task<(JobRecord Job, bool Created)> CreateAsync(JobRecord job,
        CancellationToken cancellationToken = default) => Guarded(async () =>
    {
        if (await Write(CreateScript, job, [new("spec", job.Spec.ToJson()), new("owner", job.Owner),
                new("lease_until", job.LeaseUntil.ToUnixTimeMilliseconds())]))
            return (job, true);
        return (await GetAsync(job.Id, true,
            cancellationToken) ?? throw new InvalidOperationException($"Job {job.Id} vanished while being created."), false);
    });

    public Task<JobRecord?> GetAsync(string id, bool withData = true, CancellationToken cancellationToken = default) => Guarded(async () =>
    {
        Dictionary<string, RedisValue> h;
        if (withData)
        {
            // The job's hash, then the data it points at. A write in between replaces and deletes that data:
            // read the job again, as long as it points elsewhere each time (the same pointer twice to nothing
            // means the data itself is gone: the record is read without it).
            RedisValue seen = RedisValue.Null;
            while (true)
            {
                h = (await Db.HashGetAllAsync(KeyPrefix + id)).ToDictionary(e => e.Name.ToString(), e => e.Value);
                // Tensors in the hash itself: a record from before data keys, or one an orchestrator of that
                // version wrote last (this version's writes always remove them).
                if (!h.TryGetValue("data", out var data) || DataFields.Any(h.ContainsKey) || data.IsNullOrEmpty) break;
                var entries = await Db.HashGetAllAsync((string)data!);
                if (entries.Length > 0 || data == seen)
                {
                    foreach (var e in entries) h[e.Name.ToString()] = e.Value;
                    break;
                }
                seen = data;
            }
        }
        else
        {
            var values = await Db.HashGetAsync(KeyPrefix + id, SummaryFields);
            h = SummaryFields.Zip(values).Where(p => !p.Second.IsNull).ToDictionary(p => p.First.ToString(), p => p.Second);
        }
        if (!h.ContainsKey("spec")) return null;
        RedisValue Field(string name) => h.TryGetValue(name, out var v) ? v : RedisValue.Null;
        return new JobRecord
        {
            Id = id,
            Spec = JobSpec.FromJson((string)Field("spec")!),
            Status = (JobStatus)(int)Field("status"),
            Step = (int)Field("step"),
            CheckpointStep = (int)Field("checkpoint_step"),
            Steps = (int)Field("steps"),
            Latents = Floats(Field("latents")),
            PreviousX0 = Floats(Field("prev_x0")),
            SampleShape = Field("sample_shape") is { IsNullOrEmpty: false } shape ? ((string)shape!).Split('x').Select(d => int.Parse(d,
                System.Globalization.CultureInfo.InvariantCulture)).ToArray() : null,
            CallsPerPool = ParseCalls(Field("calls")),
            Error = (string?)Field("error") ?? "",
            Failure = (FailureKind)(int)Field("failure"),
            Schedule = (string?)Field("schedule") ?? "",
            ResumedFromStep = (int)Field("resumed_from_step"),
            Owner = (string?)Field("owner") ?? "",
            LeaseUntil = DateTimeOffset.FromUnixTimeMilliseconds((long)Field("lease_until")),
            Created = DateTimeOffset.FromUnixTimeMilliseconds((long)Field("created")),
            Updated = DateTimeOffset.FromUnixTimeMilliseconds((long)Field("updated")),
            Png = Field("png") is { IsNullOrEmpty: false } png ? (byte[])png! : null,
            Samples = Floats(Field("samples")),
        };
    });

    /// <summary>The spec is written once, at creation: it never changes (a resubmit must be the same request).</summary>
    public Task<bool> SaveAsync(JobRecord job, CancellationToken cancellationToken = default) =>
        Guarded(() => Write(SaveScript, job, []));

    public Task<bool> TryClaimAsync(string id, string owner, DateTimeOffset leaseUntil,
        CancellationToken cancellationToken = default) => Guarded(async () =>
        (int)await Db.ScriptEvaluateAsync(ClaimScript, [KeyPrefix + id],
            [owner, leaseUntil.ToUnixTimeMilliseconds(), time.GetUtcNow().ToUnixTimeMilliseconds(), FinalStatuses]) == 1);

    public Task ReleaseAsync(string id, string owner, CancellationToken cancellationToken = default) =>
        Guarded(() => Db.ScriptEvaluateAsync(ReleaseScript, [KeyPrefix + id], [owner]));

    public Task RequestCancelAsync(string id, CancellationToken cancellationToken = default) =>
        Guarded(() => Db.StringSetAsync(KeyPrefix + id + ":cancel", 1, finishedTtl));

    public Task<bool> IsCancelRequestedAsync(string id, CancellationToken cancellationToken = default) =>
        Guarded(() => Db.KeyExistsAsync(KeyPrefix + id + ":cancel"));

    public Task<IReadOnlyList<string>> UnfinishedAsync(CancellationToken cancellationToken = default) =>
        Guarded(async () => (IReadOnlyList<string>)(await Db.SetMembersAsync(UnfinishedKey)).Select(v => v.ToString()).ToList());

    /// <summary>
    /// Runs <paramref name="script"/> (<see cref="CreateScript"/> or <see cref="SaveScript"/>) with the job's
    /// fields: everything but the spec and the owner (which only creation and claims write), the lease only
    /// as a finished job's write ends it, plus <paramref name="extra"/>. The tensors go to a new data key
    /// first, in the same pipeline (one round trip).
    /// </summary>
    private async Task<bool> Write(string script, JobRecord job, HashEntry[] extra)
    {
        HashEntry[] data =
        [
            .. Tensor("latents", job.Latents), .. Tensor("prev_x0", job.PreviousX0), .. Tensor("samples", job.Samples),
            .. job.Png is { Length: > 0 } png ? [new HashEntry("png", png)] : Array.Empty<HashEntry>(),
        ];
        HashEntry[] fields =
        [
            .. extra,
            new("status", (int)job.Status), new("step", job.Step), new("steps", job.Steps), new("checkpoint_step", job.CheckpointStep),
            new("sample_shape", job.SampleShape is null ? "" : string.Join('x', job.SampleShape)),
            new("calls", string.Join(";", job.CallsPerPool.Select(kv => $"{kv.Key}={kv.Value}"))),
            new("error", job.Error), new("failure", (int)job.Failure), new("schedule", job.Schedule),
            new("resumed_from_step", job.ResumedFromStep),
            new("created", job.Created.ToUnixTimeMilliseconds()), new("updated", job.Updated.ToUnixTimeMilliseconds()),
        ];
        string jobKey = KeyPrefix + job.Id, dataKey = data.Length > 0 ? DataKey(job.Id) : "";
        var args = new RedisValue[5 + 2 * fields.Length];
        (args[0], args[1], args[2], args[3], args[4]) = (job.Id, job.IsFinished ? "1" : "0", (long)finishedTtl.TotalMilliseconds, job.Owner,
            dataKey);
        for (int i = 0; i < fields.Length; i++) (args[5 + 2 * i], args[6 + 2 * i]) = (fields[i].Name, fields[i].Value);
        RedisKey[] keys = [jobKey, UnfinishedKey, data.Length > 0 ? dataKey : jobKey];
        Task<RedisResult> written;
        if (data.Length == 0) written = Db.ScriptEvaluateAsync(script, keys, args);
        else
        {
            var batch = Db.CreateBatch();
            var stored = batch.HashSetAsync(dataKey, data);
            var expiring = batch.KeyExpireAsync(dataKey, UnclaimedDataTtl);
            written = batch.ScriptEvaluateAsync(script, keys, args);
            batch.Execute();
            await Task.WhenAll(stored, expiring, written);
        }
        return (int)await written switch
        {
            1 => true,
            0 => false,
            _ => throw new ServiceFailureException(FailureKind.StoreUnavailable,
                "The job store (Redis) lost a write's data before the write landed (evicted? the store needs maxmemory-policy " +
                    "noeviction); the write was not applied."),
        };

        static HashEntry[] Tensor(string name, float[]? values) => values is null ? [] : [new HashEntry(name, Bytes(values))];
    }

    /// <summary>Redis being unreachable is the store's failure, reported as such (not as a client-library diagnostic).</summary>
    private static async Task<T> Guarded<T>(Func<Task<T>> call)
    {
        try { return await call(); }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            throw new ServiceFailureException(FailureKind.StoreUnavailable, $"The job store (Redis) is unreachable: {ex.GetType().Name}.",
                ex);
        }
        catch (RedisServerException ex)
            when (IsTransient(ex) || IsAuthenticationError(ex) || IsPermissionError(ex) || IsOutOfMemory(ex))
        {
            // A Redis that just restarted answers LOADING while it reads its AOF; one whose password
            // changed answers NOAUTH/WRONGPASS, and an ACL user without a command the store needs NOPERM
            // (its message names the command, never a secret); one at its maxmemory refuses writes with OOM
            // (noeviction, as the store needs): the store is unavailable, not the request at fault.
            string reason = IsPermissionError(ex) ? ex.Message.Split('\n')[0]
                : IsOutOfMemory(ex) ? "OOM, Redis is at its maxmemory (raise it, or lower the finished jobs' TTL)"
                : ex.Message.Split(' ')[0];
            throw new ServiceFailureException(FailureKind.StoreUnavailable, $"The job store (Redis) is unavailable: {reason}.", ex);
        }
    }

    /// <summary>
    /// The Redis ACL user of Orchestrator:Redis may not run a command the store needs (see <see cref="RequiredPermissions"/>).
    /// </summary>
    public static bool IsPermissionError(RedisServerException ex) => ex.Message.StartsWith("NOPERM", StringComparison.Ordinal);

    /// <summary>What an ACL user needs: the store's keys, and the command groups its scripts and reads use.</summary>
    public const string RequiredPermissions = "~tstitch:* +@hash +@set +@keyspace +@string +@scripting +@connection";

    /// <summary>
    /// A script touching a store key, as every write does: run at start-up (<see cref="JobStoreStartupCheck"/>) so a user
    /// without the scripting or key permissions stops the orchestrator there, not at its first job.
    /// </summary>
    public static Task ProbeAsync(IDatabase db) => db.ScriptEvaluateAsync("return redis.call('EXISTS', KEYS[1])", [KeyPrefix + "probe"]);

    /// <summary>Redis refused our credentials (wrong password or user, or none given).</summary>
    public static bool IsAuthenticationError(RedisServerException ex) =>
        ex.Message.StartsWith("WRONGPASS", StringComparison.Ordinal) || ex.Message.StartsWith("NOAUTH", StringComparison.Ordinal);

    /// <summary>Redis refused a write at its maxmemory (with noeviction, which the store needs: docs/operations.md).</summary>
    private static bool IsOutOfMemory(RedisServerException ex) => ex.Message.StartsWith("OOM", StringComparison.Ordinal);

    /// <summary>Redis is (re)starting or failing over: the same command succeeds shortly.</summary>
    private static bool IsTransient(RedisServerException ex) =>
        ex.Message.StartsWith("LOADING", StringComparison.Ordinal) || ex.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal)
        || ex.Message.StartsWith("READONLY", StringComparison.Ordinal);

    /// <summary>
    /// Written from the arrays themselves: a saved record's tensors are not changed afterwards (<see cref="JobCheckpoints.SaveBehind"/>).
    /// </summary>
    private static RedisValue Bytes(float[] values) => TensorMessages.BytesOf(values);

    private static float[]? Floats(RedisValue value) => value.IsNullOrEmpty ? null : TensorMessages.FromBytes((byte[])value!);

    private static Dictionary<string, int> ParseCalls(RedisValue value) =>
        value.IsNullOrEmpty ? new() : ((string)value!).Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=')).ToDictionary(p => p[0], p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
}
