using TStitch.Denoising;
using TStitch.Hosting;

// The small pool: the shared denoiser host with this folder's appsettings.json.
HealthProbe.RunIfRequested(args); // `SmallDenoiser --health-probe`: container health check
DenoiserHost.Create(args, "small-denoiser").Run();
