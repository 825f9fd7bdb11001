package controllers

import (
	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// campaignLogger builds the logger of each UpdateCampaign reconcile with the keys people filter on:
// campaign and namespace, where controller-runtime would name the kind (UpdateCampaign: {name,
// namespace}). The waves and the Update Service campaigns a reconcile acts on add wave and
// remoteCampaign.
func campaignLogger(base logr.Logger) func(*reconcile.Request) logr.Logger {
	log := base.WithValues("controller", "updatecampaign",
		"controllerGroup", v1.GroupVersion.Group, "controllerKind", "UpdateCampaign")
	return func(req *reconcile.Request) logr.Logger {
		if req == nil {
			return log
		}
		return log.WithValues("namespace", req.Namespace, "campaign", req.Name)
	}
}
