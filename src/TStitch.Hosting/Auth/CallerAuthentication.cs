using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace TStitch.Hosting.Auth;

/// <summary>Registration of caller authentication (see <see cref="CallerAuthenticationInterceptor"/>).</summary>
public static class CallerAuthentication
{
    /// <summary>
    /// Binds and validates "Auth" and makes every gRPC call of this host present <paramref name="credential"/> when one is configured.
    /// </summary>
    public static WebApplicationBuilder AddCallerAuthentication(this WebApplicationBuilder builder, CallerCredential credential)
    {
        builder.Services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(sp => new AcceptedCredentials(sp.GetRequiredService<IOptions<AuthOptions>>().Value, credential));
        // Added after ServiceDefaults' ErrorMappingInterceptor: errors of authenticated calls are mapped as before.
        builder.Services.Configure<GrpcServiceOptions>(o => o.Interceptors.Add<CallerAuthenticationInterceptor>());
        return builder;
    }
}
