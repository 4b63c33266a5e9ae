using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using TStitch.Hosting;
using TStitch.Hosting.Auth;
using TStitch.Orchestration.Frontier;

namespace TStitch.Orchestration;

/// <summary>Composes the orchestrator (services/Orchestrator's Program.cs, the demo and the tests use it).</summary>
public static partial class OrchestratorApp
{
    public static WebApplication Create(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults("orchestrator");
        builder.AddCallerAuthentication(CallerCredential.ApiKey); // Auth:ApiKeys; Auth:ServiceToken is sent to the pools
        builder.Services.AddOptions<OrchestratorOptions>().BindConfiguration(OrchestratorOptions.Section).ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        bool redis = !string.IsNullOrWhiteSpace(builder.Configuration[$"{OrchestratorOptions.Section}:Redis"]);
        if (redis)
        {
            // abortConnect=false lets the service start (NOT_SERVING, errors per call) while Redis is still coming up.
            builder.Services.AddSingleton(sp =>
            {
                var config = ConfigurationOptions.Parse(sp.GetRequiredService<IOptions<OrchestratorOptions>>().Value.Redis);
                config.AbortOnConnectFail = false;
                return config;
            });
            builder.Services.AddSingleton<IConnectionMultiplexer>(sp =>
                ConnectionMultiplexer.Connect(sp.GetRequiredService<ConfigurationOptions>()));
            // First hosted service: wrong credentials stop the host before anything serves.
            builder.Services.AddHostedService<JobStoreStartupCheck>();
            builder.Services.AddSingleton<IJobStore>(sp => new RedisJobStore(sp.GetRequiredService<IConnectionMultiplexer>(),
                sp.GetRequiredService<IOptions<OrchestratorOptions>>().Value.FinishedJobTtl, sp.GetRequiredService<TimeProvider>()));
            builder.Services.AddHealthChecks().AddCheck<JobStoreHealthCheck>("job-store");
        }
        else
        {
            builder.Services.AddSingleton<IJobStore>(sp =>
            {
                LogInMemoryStore(sp.GetRequiredService<ILogger<InMemoryJobStore>>());
                return new InMemoryJobStore(sp.GetRequiredService<TimeProvider>());
            });
        }
        builder.Services.AddSingleton<PromptEncoder>();
        builder.Services.AddSingleton<DenoiserPools>();
        builder.Services.AddSingleton<OrchestratorInstance>();
        builder.Services.AddSingleton<JobCheckpoints>();
        builder.Services.AddSingleton<JobRunner>();
        builder.Services.AddSingleton<JobManager>();
        builder.Services.AddSingleton<JobFollower>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<JobManager>());
        builder.Services.AddHostedService<JobLeases>();
        // Frontier profiles (validated with the options at start), the live step costs and the load controller.
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<OrchestratorOptions>>().Value;
            return o.Profiles.Count == 0 ? FrontierProfiles.None : FrontierProfiles.Load(o.Profiles, o.Pools.Keys);
        });
        builder.Services.AddSingleton(sp => new PoolStepTimes(sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(sp => new JobLatencies(sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<ScheduleChooser>();
        builder.Services.AddSingleton(sp => new LoadController(sp.GetRequiredService<ScheduleChooser>(),
            () => sp.GetRequiredService<JobManager>().Waiting,
            sp.GetRequiredService<IOptions<OrchestratorOptions>>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<LoadController>>(), sp.GetRequiredService<JobLatencies>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LoadController>());
        var app = builder.Build();
        // Loaded now, not on the first prompt: a missing or malformed text encoder stops start-up with the reason.
        app.Services.GetRequiredService<PromptEncoder>();
        app.MapGrpcService<OrchestratorService>();
        app.MapDefaultEndpoints();
        return app;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Orchestrator:Redis is not set: jobs live in memory and do not survive a restart.")]
    private static partial void LogInMemoryStore(ILogger logger);
}
