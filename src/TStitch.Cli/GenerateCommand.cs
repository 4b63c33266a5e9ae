using System.CommandLine;
using System.Diagnostics;
using Grpc.Core;
using Spectre.Console;
using TStitch.Contracts;

namespace TStitch.Cli;

/// <summary>`tstitch generate`: one job on a running orchestrator over gRPC, with a progress bar fed by GenerateStream.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var orchestrator = new Option<string>("--orchestrator")
        {
            Description = "Address of the Orchestrator service.",
            DefaultValueFactory = _ => "http://localhost:5100",
        };
        var classes = new Option<int[]>("--class")
        {
            Description = "Class label of one image (repeat for more images).",
            DefaultValueFactory = _ => [3], AllowMultipleArgumentsPerToken = true,
        };
        var prompts = new Option<string[]>("--prompt") { Description = "Prompt of one image, for a text family (repeat for more images; " +
            "replaces --class).", AllowMultipleArgumentsPerToken = false };
        var negative = new Option<string?>("--negative-prompt") { Description = "Negative prompt: the unconditional half of guidance " +
            "(text families; default the empty prompt)." };
        var steps = CliOptions.Steps();
        var smallFraction = CliOptions.SmallFraction();
        var stages = new Option<string?>("--stages") { Description = "Stages as pool:fraction, e.g. small:0.3,base:0.3,large:0.4 " +
            "(overrides --small-fraction)." };
        var tier = new Option<string?>("--tier") { Description = "best, balanced or fast: a schedule from the orchestrator's frontier " +
            "profile (instead of --small-fraction)." };
        var budget = new Option<double?>("--budget-ms") { Description = "Latency budget in ms: the best-quality frontier schedule " +
            "predicted to fit (instead of --small-fraction)." };
        var sampler = CliOptions.Sampler();
        var seed = CliOptions.Seed();
        var guidance = CliOptions.Guidance();
        var eta = new Option<double>("--eta") { Description = "DDIM eta (0 = deterministic).", DefaultValueFactory = _ => 0.0 };
        var jobId = new Option<string?>("--job-id")
        {
            Description = "Client job id: the same id returns the same job and never runs twice.",
        };
        var output = new Option<string>("--out") { Description = "PNG file to write.", DefaultValueFactory = _ => "sample.png" };
        var apiKey = CliOptions.ApiKey();
        var caCert = CliOptions.CaCert();
        var command = new Command("generate", "Generate images on a running orchestrator (gRPC GenerateStream) and write them as a PNG.")
        {
            orchestrator, classes, prompts, negative, steps, smallFraction, stages, tier, budget, sampler, seed, guidance, eta, jobId,
            output, apiKey, caCert,
        };
        command.SetAction(async (parse, ct) =>
        {
            var request = new GenerateRequest
            {
                Steps = parse.GetValue(steps),
                Sampler = parse.GetValue(sampler)!,
                GuidanceScale = parse.GetValue(guidance),
                Seed = parse.GetValue(seed),
                JobId = parse.GetValue(jobId) ?? "",
                Eta = parse.GetValue(eta),
                Output = OutputKind.Png,
            };
            if (parse.GetValue(prompts) is { Length: > 0 } texts)
            {
                request.Prompts.Add(texts);
                request.NegativePrompt = parse.GetValue(negative) ?? "";
            }
            else request.ClassLabels.Add(parse.GetValue(classes)!);
            if (parse.GetValue(stages) is { Length: > 0 } stageText)
            {
                try { request.Stages = ParseStages(stageText); }
                catch (ArgumentException ex)
                {
                    AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
                    return 1;
                }
            }
            else if (parse.GetValue(tier) is { Length: > 0 } tierText)
            {
                if (!Enum.TryParse<Tier>(tierText, ignoreCase: true,
                    out var parsed) || parsed == Tier.Unspecified || !Enum.IsDefined(parsed))
                {
                    AnsiConsole.MarkupLine($"[red]--tier must be best, balanced or fast, got '{Markup.Escape(tierText)}'.[/]");
                    return 1;
                }
                request.Tier = parsed;
            }
            else if (parse.GetValue(budget) is { } ms) request.LatencyBudgetMs = ms; // the orchestrator checks it
            else request.SmallFraction = parse.GetValue(smallFraction);

            var connection = OrchestratorConnection.Open(parse.GetValue(orchestrator)!, parse.GetValue(caCert), parse.GetValue(apiKey));
            if (connection is null) return 1;
            var (channel, client) = connection.Value;
            using var _ = channel;
            var clock = Stopwatch.StartNew();
            try
            {
                var (result, progressEvents) = await RunWithProgressAsync(client, request, ct);
                var path = parse.GetValue(output)!;
                if (result.Png.IsEmpty)
                {
                    AnsiConsole.MarkupLine("[red]The result carries no PNG.[/]");
                    return 1;
                }
                await File.WriteAllBytesAsync(path, result.Png.ToByteArray(), ct);
                var job = result.Job;
                var calls = string.Join(", ", job.CallsPerPool.OrderBy(kv => kv.Key,
                    StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
                AnsiConsole.MarkupLine($"job [bold]{Markup.Escape(job.JobId)}[/] ({Markup.Escape(job.Schedule)}): {job.Status}, " +
                    $"{job.Step}/{job.Steps} steps" +
                                       (job.ResumedFromStep > 0 ? $", resumed from step {job.ResumedFromStep}" : ""));
                if (job.ScheduleReason.Length > 0) AnsiConsole.MarkupLine($"schedule: {Markup.Escape(job.ScheduleReason)}");
                AnsiConsole.MarkupLine($"calls per pool: {Markup.Escape(calls)}");
                AnsiConsole.MarkupLine($"elapsed: {result.ElapsedMs:F0} ms on the orchestrator, {clock.Elapsed.TotalMilliseconds:F0} ms " +
                    $"end to end");
                if (progressEvents == 0 && !string.IsNullOrEmpty(request.JobId))
                    AnsiConsole.MarkupLine($"[grey]job {Markup.Escape(job.JobId)} had already run: this is its stored result (the " +
                        $"request's other fields were not used)[/]");
                AnsiConsole.MarkupLine($"PNG written to [bold]{Markup.Escape(path)}[/]");
                return 0;
            }
            catch (RpcException ex)
            {
                AnsiConsole.MarkupLine($"[red]{ex.StatusCode}: {Markup.Escape(ex.Status.Detail)}[/]");
                return 1;
            }
        });
        return command;
    }

    private static async Task<(GenerateResult Result, int ProgressEvents)> RunWithProgressAsync(Orchestrator.OrchestratorClient client,
        GenerateRequest request, CancellationToken ct)
    {
        GenerateResult? result = null;
        int events = 0;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(),
                new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask("[grey]queued[/]", maxValue: request.Steps);
                using var call = client.GenerateStream(request, cancellationToken: ct);
                await foreach (var ev in call.ResponseStream.ReadAllAsync(ct))
                {
                    switch (ev.EventCase)
                    {
                        case GenerateEvent.EventOneofCase.Progress:
                            var p = ev.Progress;
                            events++;
                            task.MaxValue = Math.Max(1, p.Steps);
                            task.Value = p.Step;
                            task.Description = $"[bold]{Markup.Escape(p.Pool)}[/] step {p.Step}/{p.Steps} (t={p.Timestep})";
                            break;
                        case GenerateEvent.EventOneofCase.Result:
                            result = ev.Result;
                            task.Value = task.MaxValue;
                            task.Description = "[green]done[/]";
                            break;
                    }
                }
            });
        // A job that already finished (same job id) answers with the result alone, no progress events.
        return (result ?? throw new RpcException(new Grpc.Core.Status(StatusCode.Internal, "The stream ended without a result.")), events);
    }

    public static StageList ParseStages(string text)
    {
        var list = new StageList();
        list.Stages.Add(StageText.Parse(text).Select(stage => new Stage { Pool = stage.Model, Fraction = stage.Fraction }));
        return list;
    }
}
