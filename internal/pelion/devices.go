package pelion

import (
	"context"
	"net/http"
)

const devicesPath = "/v3/devices"

// ListDevices returns one page of the device directory. Filters take the 32-hex id form, e.g.
// Filter{}.In("id", ids...).Eq("device_class", class).
func (c *Client) ListDevices(ctx context.Context, opts ListOptions) (*Page[Device], error) {
	var page Page[Device]
	if err := c.do(ctx, &request{op: OpListDevices, method: http.MethodGet, path: devicesPath + "/", query: opts.query(), out: devicePage{out: &page, limit: opts.Limit}}); err != nil {
		return nil, err
	}
	return &page, nil
}

// GetDevice returns one device.
func (c *Client) GetDevice(ctx context.Context, id string) (*Device, error) {
	return getObject[Device](ctx, c, OpGetDevice, devicesPath+"/"+escapeID(id)+"/")
}
